"""The CDS Hooks 2.0 service: an EHR calls it with FHIR data and gets cards back."""
