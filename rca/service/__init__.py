"""The running service behind ``rca serve``: analyses, incidents, retraining, supervised ingestion."""

from rca.service.service import Service

__all__ = ["Service"]
