"""Models: the builtin zoo, and loading user files and factories."""

from edgekit.models.loading import build_model, check_fits, outputs_probabilities

__all__ = ["build_model", "check_fits", "outputs_probabilities"]
