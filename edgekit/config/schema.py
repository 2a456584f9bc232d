"""edgekit.yaml as pydantic models. The keys are a contract (DESIGN.md): tests and users depend on them."""

from __future__ import annotations

import re
from enum import Enum
from typing import Optional, Union

import pydantic
from pydantic import Field

from edgekit.config.validation import StrictModel


class DataSource(str, Enum):
    DIGITS = "digits"
    NPZ = "npz"
    IMAGES = "images"
    TFRECORD = "tfrecord"


# Sources read from disk as they are used (tf.data), never held in memory.
STREAMING_SOURCES = (DataSource.IMAGES, DataSource.TFRECORD)


class Builtin(str, Enum):
    SMALL_CNN = "small_cnn"
    MOBILENET_V2 = "mobilenet_v2"
    MLP = "mlp"


class UnsupportedLayers(str, Enum):
    """What QAT does with a layer tfmot's int8 scheme has no rule for."""

    FLOAT = "float"  # left float during QAT; the int8 converter calibrates it with the representative samples
    FAIL = "fail"  # refuse the build, naming the layers


class Precision(str, Enum):
    AUTO = "auto"
    FLOAT32 = "float32"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"


class PruneStructure(str, Enum):
    UNSTRUCTURED = "unstructured"
    TWO_FOUR = "2:4"


class ExportFormat(str, Enum):
    TFLITE = "tflite"
    ONNX = "onnx"


class Quantization(str, Enum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


# What each format can be exported as. ONNX has no float16 or dynamic-range flavour here:
# tf2onnx emits float32 graphs, and int8 comes as QDQ (QuantizeLinear/DequantizeLinear).
SUPPORTED_QUANTIZATION = {
    ExportFormat.TFLITE: (Quantization.FLOAT32, Quantization.FLOAT16, Quantization.DYNAMIC, Quantization.INT8),
    ExportFormat.ONNX: (Quantization.FLOAT32, Quantization.INT8),
}


class DataConfig(StrictModel):
    source: DataSource = DataSource.DIGITS
    path: Optional[str] = None
    image_size: Optional[tuple[pydantic.PositiveInt, pydantic.PositiveInt]] = None
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = 0

    @pydantic.field_validator("image_size", mode="before")
    @classmethod
    def _square_from_int(cls, value):
        # `image_size: 32` is a common shorthand for 32×32; a list gives height and width.
        return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value

    @pydantic.model_validator(mode="after")
    def _check(self):
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction ({self.val_fraction}) + test_fraction ({self.test_fraction}) leave nothing to train on"
            )
        if self.source is not DataSource.DIGITS and not self.path:
            raise ValueError(f"data.source '{self.source.value}' needs data.path")
        if self.source is DataSource.DIGITS and self.path:
            raise ValueError("data.source 'digits' is built in and takes no data.path")
        if self.source in STREAMING_SOURCES and self.image_size is None:
            raise ValueError(f"data.source '{self.source.value}' needs data.image_size (for example [96, 96])")
        if self.source not in STREAMING_SOURCES and self.image_size is not None:
            raise ValueError(f"data.image_size resizes images read from files; '{self.source.value}' data keeps "
                             f"its stored shape: remove data.image_size")
        return self


class ModelConfig(StrictModel):
    builtin: Optional[Builtin] = None
    width: float = Field(1.0, gt=0.0, le=4.0)
    file: Optional[str] = None
    factory: Optional[str] = None

    @pydantic.model_validator(mode="after")
    def _one_source(self):
        given = [key for key in ("builtin", "file", "factory") if getattr(self, key) is not None]
        if len(given) > 1:
            raise ValueError(f"model takes one of builtin, file or factory; got {' and '.join(given)}")
        if not given:
            self.builtin = Builtin.SMALL_CNN
        if self.factory is not None and not re.fullmatch(r"[\w.]+:[\w.]+", self.factory):
            raise ValueError(f"model.factory must look like 'package.module:function', got '{self.factory}'")
        return self


class Distribute(str, Enum):
    AUTO = "auto"
    NONE = "none"
    MIRRORED = "mirrored"
    MULTI_WORKER = "multi_worker"


class TrainConfig(StrictModel):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)  # the global batch: split across replicas when distributed
    learning_rate: float = Field(0.001, gt=0.0)
    precision: Precision = Precision.AUTO
    distribute: Distribute = Distribute.AUTO


class PruneConfig(StrictModel):
    enabled: bool = True
    target_sparsity: float = Field(0.5, gt=0.0, lt=1.0)
    epochs: int = Field(2, ge=1)
    structure: PruneStructure = PruneStructure.UNSTRUCTURED
    exclude: list[str] = []

    @pydantic.field_validator("structure", mode="before")
    @classmethod
    def _yaml_sexagesimal(cls, value):
        # YAML 1.1 reads an unquoted 2:4 as the base-60 integer 124; say so instead of "not one of".
        if value == 124:
            raise ValueError("write the 2:4 structure in quotes (\"2:4\"): unquoted, YAML reads it as the number 124")
        return value

    @pydantic.model_validator(mode="after")
    def _check(self):
        if self.structure is PruneStructure.TWO_FOUR and abs(self.target_sparsity - 0.5) > 1e-9:
            raise ValueError(
                f"structure '2:4' zeroes exactly 2 of every 4 weights (sparsity 0.5); "
                f"target_sparsity is {self.target_sparsity}: set it to 0.5 or use structure 'unstructured'"
            )
        return self


class QatConfig(StrictModel):
    enabled: bool = True
    epochs: int = Field(2, ge=1)
    # Layers left in float during QAT (the int8 converter still quantizes them post-training).
    exclude: list[str] = []
    # Layers tfmot has no rule for (custom layers, LayerNormalization, TFOpLambda ops...): float or fail.
    unsupported: UnsupportedLayers = UnsupportedLayers.FLOAT


class ExportConfig(StrictModel):
    formats: list[ExportFormat] = [ExportFormat.TFLITE, ExportFormat.ONNX]
    # A list applies to every format that supports the entry; a mapping chooses per format:
    # {tflite: [float32, int8], onnx: [float32]}.
    quantization: Union[list[Quantization], dict[ExportFormat, list[Quantization]]] = [
        Quantization.FLOAT32,
        Quantization.FLOAT16,
        Quantization.DYNAMIC,
        Quantization.INT8,
    ]
    representative_samples: int = Field(200, ge=1)
    onnx_opset: int = Field(17, ge=13, le=21)

    @pydantic.model_validator(mode="after")
    def _check(self):
        if len(set(self.formats)) != len(self.formats):
            raise ValueError("export.formats lists a format twice")
        if isinstance(self.quantization, dict):
            for fmt, wanted in self.quantization.items():
                if fmt not in self.formats:
                    raise ValueError(f"export.quantization names '{fmt.value}', which is not in export.formats")
                unsupported = [q.value for q in wanted if q not in SUPPORTED_QUANTIZATION[fmt]]
                if unsupported:
                    supported = ", ".join(q.value for q in SUPPORTED_QUANTIZATION[fmt])
                    raise ValueError(f"{fmt.value} cannot be exported as {', '.join(unsupported)} (supported: {supported})")
        return self

    def combinations(self) -> list[tuple[ExportFormat, Quantization]]:
        """Every (format, quantization) pair to export, in a stable order."""
        pairs = []
        for fmt in self.formats:
            if isinstance(self.quantization, dict):
                wanted = self.quantization.get(fmt, [])
            else:
                wanted = [q for q in self.quantization if q in SUPPORTED_QUANTIZATION[fmt]]
            pairs.extend((fmt, q) for q in Quantization if q in wanted)
        return pairs


class EvaluateConfig(StrictModel):
    max_accuracy_drop: float = Field(0.01, ge=0.0, le=1.0)


class ProfileConfig(StrictModel):
    runs: int = Field(100, ge=1)
    warmup: int = Field(10, ge=0)
    min_seconds: float = Field(1.0, ge=0.0)
    threads: Optional[pydantic.PositiveInt] = None


class EdgekitConfig(StrictModel):
    name: str = "model"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    prune: PruneConfig = PruneConfig()
    qat: QatConfig = QatConfig()
    export: ExportConfig = ExportConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    profile: ProfileConfig = ProfileConfig()

    @pydantic.field_validator("name")
    @classmethod
    def _file_name_safe(cls, value: str) -> str:
        # The name becomes part of every artifact's file name.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
            raise ValueError(
                f"name must be 1-64 letters, digits, '.', '_' or '-' (it names the artifact files), got {value!r}"
            )
        return value
