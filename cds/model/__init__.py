"""Typed contracts: the patient that comes in and the recommendation that goes out."""

from cds.model.patient import Patient, PriorTreatment
from cds.model.recommendation import (
    DISCLAIMER,
    Alert,
    Argument,
    Evidence,
    ExcludedOption,
    MissingData,
    RankedOption,
    Recommendation,
    Trace,
)

__all__ = [
    "DISCLAIMER",
    "Alert",
    "Argument",
    "Evidence",
    "ExcludedOption",
    "MissingData",
    "Patient",
    "PriorTreatment",
    "RankedOption",
    "Recommendation",
    "Trace",
]
