"""The rule engine: compilation of knowledge to durable_rules and evaluation."""

from cds.engine.engine import Engine, EvaluationDetail

__all__ = ["Engine", "EvaluationDetail"]
