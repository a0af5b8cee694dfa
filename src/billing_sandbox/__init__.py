"""billing-sandbox: stateful, spec-driven fakes of healthcare-billing APIs."""

__version__ = "0.1.0"
