"""Random valid patients, shared by the property test and the benchmark.

Valid by construction (no rejection sampling): site-specific fields are only
set for their site, and the contradictions the model rejects are avoided.
Extreme values (0, 100, threshold edges) are drawn often on purpose. The same
builder runs on hypothesis (shrinking, CI) or on a seeded random (benchmark).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol

from hypothesis import strategies as st

from cds.model.patient import (
    Comorbidity,
    FunctionalSyndrome,
    MetastaticSite,
    PrimarySite,
)

OPTIONS_TRIED = [
    "ssa", "ssa_dose_escalation", "everolimus", "sunitinib", "cabozantinib",
    "capecitabine_temozolomide", "streptozocin_5fu", "prrt", "interferon_alpha",
    "liver_embolization", "platinum_etoposide", "folfiri", "oxaliplatin_based",
    "surgery_curative", "telotristat",
]
KI67_EDGES = [0, 0.1, 2.9, 3, 5, 9.9, 10, 10.1, 19.9, 20, 20.1, 54.9, 55, 55.1, 80, 100]
SIZE_EDGES = [0.1, 9, 10, 11, 15, 19, 20, 21, 40, 500]
BURDEN_EDGES = [0, 10, 11, 25, 26, 50, 51, 70, 71, 100]
EGFR_EDGES = [0, 15, 29, 30, 49, 50, 59, 60, 90, 250]


class Chooser(Protocol):
    def pick(self, items: Sequence[Any]) -> Any: ...
    def floats(self, lo: float, hi: float) -> float: ...
    def ints(self, lo: int, hi: int) -> int: ...
    def subset(self, items: Sequence[Any], max_size: int) -> list[Any]: ...
    def coin(self) -> bool: ...


class HypothesisChooser:
    def __init__(self, draw: Any) -> None:
        self.draw = draw

    def pick(self, items: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(list(items)))

    def floats(self, lo: float, hi: float) -> float:
        return float(self.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False)))

    def ints(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def subset(self, items: Sequence[Any], max_size: int) -> list[Any]:
        return list(self.draw(st.lists(st.sampled_from(list(items)), max_size=max_size,
                                       unique=True)))

    def coin(self) -> bool:
        return bool(self.draw(st.booleans()))


class RandomChooser:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, items: Sequence[Any]) -> Any:
        return self.rng.choice(list(items))

    def floats(self, lo: float, hi: float) -> float:
        return round(self.rng.uniform(lo, hi), 2)

    def ints(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def subset(self, items: Sequence[Any], max_size: int) -> list[Any]:
        return self.rng.sample(list(items), self.rng.randint(0, max_size))

    def coin(self) -> bool:
        return self.rng.random() < 0.5


def patient_from(c: Chooser) -> dict[str, Any]:
    """Build one patient dict from a chooser (hypothesis-backed or seeded random)."""
    site = c.pick([s.value for s in PrimarySite])
    stage = c.pick(["localized", "locoregional", "metastatic", "metastatic", None])
    tumour: dict[str, Any] = {"primary_site": site}
    tumour["grade"] = c.pick([None, None, "G1", "G2", "G3"])
    tumour["differentiation"] = c.pick(["well", "well", "well", "poor", None])
    if tumour["differentiation"] == "poor":
        tumour["nec_subtype"] = c.pick(["small_cell", "large_cell", None])
    tumour["minen"] = c.pick([False, False, False, True])
    tumour["ki67_percent"] = c.pick([None, *KI67_EDGES, c.floats(0, 100)])
    tumour["mitoses_per_2mm2"] = c.pick([None, 0, 1.9, 2, 20, 20.1, 1000, c.ints(0, 60)])
    tumour["size_mm"] = c.pick([None, *SIZE_EDGES])
    syndrome = c.pick([s.value for s in FunctionalSyndrome] + ["none"] * 4)
    tumour["functional_syndrome"] = syndrome
    if syndrome != "none":
        tumour["syndrome_controlled"] = c.pick([True, False, None])
        tumour["bowel_movements_per_day"] = c.pick([None, 2, 3, 4, 8, 50])
    tumour["hereditary_syndrome"] = c.pick([None, "none", "men1", "vhl"])
    tumour["primary_resected"] = c.pick([None, True, False])
    tumour["primary_symptomatic"] = c.pick([None, True, False])
    if stage not in ("localized", None):
        tumour["lymph_nodes_positive"] = c.pick([None, True, False])
    tumour["lymphovascular_invasion"] = c.pick([None, True, False])
    tumour["resection_margin"] = c.pick([None, "r0", "r1", "r2"])
    tumour["muscularis_propria_invasion"] = c.pick([None, True, False])
    if site == "stomach":
        tumour["gastric_type"] = c.pick([None, 1, 2, 3])
        tumour["number_of_lesions"] = c.pick([None, 1, 5])
    if site == "appendix":
        tumour["appendix_location"] = c.pick([None, "tip", "body", "base"])
        tumour["mesoappendix_invasion_mm"] = c.pick([None, 0, 3, 3.1, 10])
    if site == "duodenum":
        tumour["ampullary"] = c.pick([None, True, False])
    if site == "pancreas":
        tumour["main_duct_dilatation"] = c.pick([None, True, False])
    disease: dict[str, Any] = {"stage": stage}
    if stage in ("metastatic", None):
        disease["metastatic_sites"] = c.subset([m.value for m in MetastaticSite], 3)
        disease["liver_tumour_burden_percent"] = c.pick([None, *BURDEN_EDGES])
    disease["resectable"] = c.pick([None, True, False])
    disease["status"] = c.pick(["new_diagnosis", "stable", "progressive", "unknown"])
    disease["progression_months"] = c.pick([None, 3, 12, 13, 600])
    disease["symptomatic_tumour_burden"] = c.pick([None, True, False])
    prior_treatments: list[Any] = []
    for i, option in enumerate(c.subset(OPTIONS_TRIED, 4)):
        if c.coin():
            prior_treatments.append(option)
        else:
            prior_treatments.append({
                "option": option,
                "stop_reason": c.pick(["progression", "toxicity", "completed", "ongoing"]),
                "best_response": c.pick([None, "cr", "pr", "sd", "pd"]),
                "line": i + 1,
            })
    sex = c.pick(["F", "M", None])
    comorbidities = c.subset(
        [m.value for m in Comorbidity if m.value not in ("pregnancy", "breast_feeding") or sex == "F"], 3)
    # Decision dates spread over years, so the benchmark lays out dated plans as often as
    # real tumour boards do rather than reusing one undated plan.
    as_of = f"{c.ints(2020, 2027)}-{c.ints(1, 12):02d}-{c.ints(1, 28):02d}"
    return {
        "id": "random",
        "as_of": c.pick([None, as_of, as_of]),
        "imaging_history": c.pick([None, None, {"cumulative_msv": c.pick([0, 40, 99.9, 150])}]),
        "age": c.pick([None, 0, 18, 39, 40, 55, 56, 60, 61, 120]),
        "sex": sex,
        "ecog": c.pick([None, 0, 1, 2, 3, 4]),
        "fit_for_major_surgery": c.pick([None, None, True, False]),
        "tumour": tumour,
        "disease": disease,
        "imaging": {
            "sstr": c.pick(["positive", "negative", "heterogeneous", "not_done"]),
            "fdg_pet": c.pick(["positive", "negative", "not_done"]),
        },
        "labs": {
            "egfr_ml_min": c.pick([None, *EGFR_EDGES]),
            "nt_probnp_pg_ml": c.pick([None, 100, 260, 261, 5000]),
            "platelets_g_l": c.pick([None, 20, 49, 50, 74, 75, 99, 100, 250]),
            "neutrophils_g_l": c.pick([None, 0.5, 1.4, 1.5, 4]),
            "bilirubin_umol_l": c.pick([None, 10, 21, 22, 63, 64, 200]),
        },
        "comorbidities": comorbidities,
        "carcinoid_heart_disease": c.pick([None, True, False]),
        "prior_treatments": prior_treatments,
    }


@st.composite
def patients(draw: Any) -> dict[str, Any]:
    return patient_from(HypothesisChooser(draw))


def random_patients(n: int, seed: int = 7) -> list[dict[str, Any]]:
    chooser = RandomChooser(seed)
    return [patient_from(chooser) for _ in range(n)]
