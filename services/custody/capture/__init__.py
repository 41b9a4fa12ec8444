"""EPCIS 2.0 capture (GS1 REST binding `POST /epcis/capture`, and topic `bpass.custody.epcis-documents.v1`)."""
