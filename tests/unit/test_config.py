"""edgekit.yaml validation: every error names the key and its line."""

import pytest
from click.testing import CliRunner

from edgekit.cli import main
from edgekit.config import STARTER_CONFIG, EdgekitConfig, load_config, write_starter_config
from edgekit.config.loader import starter_config
from edgekit.config.schema import ExportFormat, Quantization
from edgekit.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "edgekit.yaml"
    path.write_text(text)
    return path


def test_starter_config_is_valid_and_shows_the_defaults(tmp_path):
    loaded = load_config(write(tmp_path, STARTER_CONFIG))
    defaults = EdgekitConfig()
    assert loaded.config.prune == defaults.prune
    assert loaded.config.export == defaults.export
    assert loaded.config.profile == defaults.profile
    assert loaded.config.name == "digits-cnn"


def test_unknown_key_names_line_and_suggests(tmp_path):
    path = write(tmp_path, "name: x\ntrain:\n  batch_size: 32\n\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"line 5: unknown key 'epoch' in train \(did you mean 'epochs'\?\)"):
        load_config(path)


def test_unknown_top_level_key_lists_known_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"line 2: unknown key 'deploy' \(known keys: name, data, model"):
        load_config(write(tmp_path, "name: x\ndeploy: 1\n"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("prune:\n  target_sparsity: 1.5\n", r"line 2: prune.target_sparsity: Input should be less than 1 \(got 1.5\)"),
        ("train:\n  epochs: -1\n", r"line 2: train.epochs: Input should be greater than or equal to 1 \(got -1\)"),
        ("train:\n  batch_size: many\n", r"line 2: train.batch_size: Input should be a valid integer"),
        ("export:\n  quantization: [int9]\n", r"line 2: export.quantization.0: 'int9' is not one of .* \(did you mean 'int8'\?\)"),
        ("train: {precision: mixed_float32}\n", r"did you mean 'mixed_float16'"),
        ("prune:\n  structure: 2:4\n", r"line 2: prune.structure: write the 2:4 structure in quotes"),
        ("prune: {structure: '2:4', target_sparsity: 0.7}\n", r"structure '2:4' zeroes exactly 2 of every 4 weights"),
        ("data:\n  source: npz\n", r"line 1: data.source 'npz' needs data.path"),
        ("data: {source: images, path: imgs}\n", r"needs data.image_size"),
        ("data: {val_fraction: 0.5, test_fraction: 0.5}\n", r"leave nothing to train on"),
        ("model: {builtin: mlp, file: m.keras}\n", r"model takes one of builtin, file or factory; got builtin and file"),
        ("model: {factory: 'not a spec'}\n", r"must look like 'package.module:function'"),
        ("export:\n  quantization: {onnx: [float16]}\n", r"onnx cannot be exported as float16 \(supported: float32, int8\)"),
        ("name: 'my model'\n", r"name must be 1-64 letters"),
        ("profile: {threads: 0}\n", r"profile.threads: Input should be greater than 0"),
    ],
)
def test_impossible_values_are_refused_with_key_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_every_problem_is_listed(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "train:\n  epochs: 0\nprune:\n  target_sparsity: 2\n"))
    assert "line 2: train.epochs" in str(caught.value)
    assert "line 4: prune.target_sparsity" in str(caught.value)


def test_duplicate_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"line 3: key 'epochs' is given twice \(first on line 2\)"):
        load_config(write(tmp_path, "train:\n  epochs: 3\n  epochs: 4\n"))


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"line 3: not valid YAML: .* \(while parsing a flow sequence started on line 2\)"):
        load_config(write(tmp_path, "train:\n  epochs: [3\n"))
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_quantization_list_applies_to_formats_that_support_it(tmp_path):
    config = load_config(write(tmp_path, "export: {quantization: [float16, int8]}\n")).config
    assert config.export.combinations() == [
        (ExportFormat.TFLITE, Quantization.FLOAT16),
        (ExportFormat.TFLITE, Quantization.INT8),
        (ExportFormat.ONNX, Quantization.INT8),
    ]
    per_format = load_config(write(tmp_path, "export: {quantization: {tflite: [int8], onnx: [float32]}}\n")).config
    assert per_format.export.combinations() == [(ExportFormat.TFLITE, Quantization.INT8),
                                                (ExportFormat.ONNX, Quantization.FLOAT32)]


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    loaded = load_config(write(tmp_path / "sub", "data: {source: npz, path: d.npz}\n"))
    assert loaded.resolve("d.npz") == (tmp_path / "sub" / "d.npz").resolve()


def test_init_writes_starter_and_never_overwrites(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "Keyword spotter (v2)"
    folder.mkdir()
    result = runner.invoke(main, ["init", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    written = (folder / "edgekit.yaml").read_text()
    assert written == starter_config("Keyword-spotter-v2") != STARTER_CONFIG
    assert load_config(folder / "edgekit.yaml").config.name == "Keyword-spotter-v2"
    for source in ("digits:", "npz:", "images:", "tfrecord:"):
        assert f"# {source}" in written
    tmp_path = folder
    again = runner.invoke(main, ["init", "--dir", str(tmp_path)])
    assert again.exit_code == 2
    assert "already exists; edgekit init never overwrites" in again.output
    with pytest.raises(ConfigError):
        write_starter_config(tmp_path)
