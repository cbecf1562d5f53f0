"""The model registry and scheduled retraining."""

from rca.registry.models import ModelRecord, ModelRegistry, RegistryError, fingerprint

__all__ = ["ModelRecord", "ModelRegistry", "RegistryError", "fingerprint"]
