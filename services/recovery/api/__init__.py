"""Recovery HTTP routes, one module per family: the evidence recyclers and refiners report (the same use cases as
the inbound topics), what recovery knows of a passport and its attribution, the Annex XII report, recycled-content
claims."""
