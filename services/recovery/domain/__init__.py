"""Recovery rules without I/O.

- `materials`: stoichiometry, chemistry default compositions (typical literature values), Annex XII categories.
- `composition`: a passport's declared material content per kg of battery, from its minted static data.
- `allocation`: largest-remainder apportionment at 0.001 kg (shares sum exactly to the pool).
- `treatment`: a recycler's treatment batch — rejections, flags, attribution of its lots to its inputs
  (`treatment_rules`: the checks it must pass).
- `refining`: a refiner's report — rejections, attribution of its products to lots and inputs.
- `mass_balance`: conservation — nothing credited beyond the declared content plus the assay tolerance.
- `annex_xii`: recycling efficiency and material recovery rates against the targets.
- `recycled_content`: Art. 8 claims checked against attributed material; shares and minimums.
"""
