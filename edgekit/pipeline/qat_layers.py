"""Which layers QAT can quantize, as tfmot itself decides after its graph transforms, and the annotated model.

tfmot's registry alone refuses layers that `quantize_apply` does quantize: BatchNormalization has no entry of
its own, because the transforms give every BN after a Conv/DepthwiseConv/Dense its quantize config. So support
is read off the transformed model: a layer is supported when the transforms gave it a config or the registry
has a rule for its (transformed) class, exactly the test `quantize_apply` applies when it wraps each layer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from edgekit._tf import keras, tfmot
from edgekit.models.loading import rebuilding_in_memory

# What quantize_apply raises for a layer it has no config for (the safety net below reads it).
_REFUSED = re.compile(r"Layer (?P<name>[^:\s]+):(?P<cls>\S+) is not supported")
# quantize_apply is retried with a refused layer left float at most this many times; the prediction from the
# transformed model normally leaves nothing to retry.
MAX_RETRIES = 5


@dataclass
class QuantizationPlan:
    """Which layers train quantization-aware and which stay float during QAT (and are only calibrated).

    Attributes:
        quantized: layer names annotated for QAT.
        unsupported: {class name: [layer names]} tfmot has no rule for.
        excluded: layer names qat.exclude keeps float.
    """

    quantized: list[str] = field(default_factory=list)
    unsupported: dict[str, list[str]] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)

    @property
    def float_layers(self) -> set[str]:
        return {name for names in self.unsupported.values() for name in names} | set(self.excluded)


def custom_objects(model) -> dict[str, type]:
    """The model's layer classes that are not tf_keras' own, by class and registered name.

    tfmot rebuilds the model from its config (transforms, cloning), which must find these classes by name.
    """
    found: dict[str, type] = {}
    for layer in _all_layers(model):
        cls = type(layer)
        if cls.__module__.startswith(("tf_keras.", "keras.", "tensorflow")):
            continue
        found[cls.__name__] = cls
        found[keras().utils.get_registered_name(cls)] = cls
    return found


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras().Model):
            yield from _all_layers(layer)


def unsupported_layers(model, candidates: set[str], scheme) -> dict[str, str]:
    """{layer name: class name} of the `candidates` tfmot's `scheme` would refuse, after its transforms.

    Runs the scheme's layout transforms on the model with every candidate annotated, as `quantize_apply`
    does, then asks for each transformed layer what `quantize_apply` asks: a quantize config from the
    transforms, or a rule in the scheme's registry.
    """
    quantization = tfmot().quantization.keras
    is_input = keras().layers.InputLayer
    layer_map = {layer.name: {"quantize_config": None} for layer in model.layers if layer.name in candidates}
    legacy_config = getattr(model, "use_legacy_config", None)
    with quantization.quantize_scope(custom_objects(model)), rebuilding_in_memory():
        transformed, layer_map = scheme.get_layout_transformer().apply(model, layer_map)
    model.use_legacy_config = legacy_config  # the transformer sets this flag on its input; put it back
    registry = scheme.get_quantize_registry()
    return {layer.name: type(layer).__name__ for layer in transformed.layers
            if layer.name in layer_map and not isinstance(layer, is_input)
            and not layer_map[layer.name].get("quantize_config") and not _has_rule(registry, layer)}


class ConsistentScheme:
    """A tfmot quantize scheme whose registry `supports` only the layers it has a quantize config for.

    The prune-preserving registry says it supports every layer without trainable weights, then fails to
    find a config for those the default registry has no rule for; `quantize_apply` asks exactly that of
    an unannotated layer feeding an annotated one (to quantize its output), and would fail on it.
    """

    def __init__(self, scheme):
        self._scheme = scheme

    def get_layout_transformer(self):
        return self._scheme.get_layout_transformer()

    def get_quantize_registry(self):
        return _ConsistentRegistry(self._scheme.get_quantize_registry())


class _ConsistentRegistry:
    def __init__(self, registry):
        self._registry = registry

    def supports(self, layer) -> bool:
        return _has_rule(self._registry, layer)

    def get_quantize_config(self, layer):
        return self._registry.get_quantize_config(layer)


def _has_rule(registry, layer) -> bool:
    """Whether `quantize_apply` finds a quantize config for `layer` in `registry`."""
    if not registry.supports(layer):
        return False
    try:
        registry.get_quantize_config(layer)
    except (ValueError, KeyError):
        # The prune-preserving registry claims every layer without trainable weights (TFOpLambda, Rescaling...),
        # then asks the default registry for its config, which has none.
        return False
    return True


def plan_quantization(model, exclude: list[str], scheme) -> QuantizationPlan:
    """Split the model's layers into those QAT quantizes, those tfmot cannot, and those `exclude` keeps float."""
    is_input = keras().layers.InputLayer
    candidates = {layer.name for layer in model.layers if not isinstance(layer, is_input) and layer.name not in exclude}
    refused = unsupported_layers(model, candidates, scheme)
    return _plan(model, exclude, refused)


def _plan(model, exclude: list[str], refused: dict[str, str]) -> QuantizationPlan:
    by_class: dict[str, list[str]] = defaultdict(list)
    for name, cls in refused.items():
        by_class[cls].append(name)
    is_input = keras().layers.InputLayer
    quantized = [layer.name for layer in model.layers
                 if not isinstance(layer, is_input) and layer.name not in exclude and layer.name not in refused]
    return QuantizationPlan(quantized=quantized, unsupported=dict(by_class),
                            excluded=[name for name in exclude])


def apply_plan(model, plan: QuantizationPlan, scheme):
    """`model` (not modified) with the plan's layers quantization-aware and the others left float.

    Returns:
        (QAT model, the plan it was made with). tfmot may still refuse a layer the prediction let through
        (a transform that rewires what it matched); that layer is then left float too, and the plan says so.

    Raises:
        RuntimeError / ValueError: tfmot failed for a reason other than a refused layer.
    """
    from edgekit.pipeline.prune import copy_model

    quantization = tfmot().quantization.keras
    private = copy_model(model)
    for _ in range(MAX_RETRIES + 1):
        float_layers = plan.float_layers

        def annotate(layer):
            if layer.name in float_layers or isinstance(layer, keras().layers.InputLayer):
                return layer
            return quantization.quantize_annotate_layer(layer)

        with quantization.quantize_scope(custom_objects(model)), rebuilding_in_memory():
            annotated = keras().models.clone_model(private, clone_function=annotate)
            try:
                return quantization.quantize_apply(annotated, scheme), plan
            except (RuntimeError, ValueError) as error:
                match = _REFUSED.search(str(error))
                if match is None or match["name"] not in plan.quantized:
                    raise
        refused = {name: cls for cls, names in plan.unsupported.items() for name in names}
        refused[match["name"]] = match["cls"].rsplit(".", 1)[-1].rstrip("'>")
        plan = _plan(model, plan.excluded, refused)
    raise RuntimeError(f"tfmot refused {MAX_RETRIES + 1} layers one after another that its transforms "
                       f"had accepted; the last: {match['name']}")


def describe_classes(unsupported: dict[str, list[str]], shown: int = 3) -> str:
    """'BatchNormalization (52: bn_Conv1, bn_1, bn_2, …), LayerNormalization (1: ln)': each class once."""
    parts = []
    for cls, names in sorted(unsupported.items(), key=lambda item: (-len(item[1]), item[0])):
        listed = ", ".join(names[:shown]) + (", …" if len(names) > shown else "")
        parts.append(f"{cls} ({len(names)}: {listed})")
    return ", ".join(parts)
