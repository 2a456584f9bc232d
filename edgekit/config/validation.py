"""Turn pydantic's validation errors into messages that name the key and its line."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

import pydantic

from edgekit.config.yamlsource import LocatedYaml, did_you_mean
from edgekit.errors import ConfigError

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class StrictModel(pydantic.BaseModel):
    """A config section: unknown keys are errors, numbers must be finite, values are validated when assigned too."""

    # allow_inf_nan: `.inf` and `.nan` are valid YAML floats, and no edgekit setting means either.
    model_config = pydantic.ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)


def validate(model: type[ModelT], located: LocatedYaml, *, what: str = "configuration") -> ModelT:
    """Validate YAML data against `model`.

    Raises:
        ConfigError: one line per problem, each naming the key and the line it is on.
    """
    try:
        return model.model_validate(located.data)
    except pydantic.ValidationError as error:
        items = [item for item in error.errors() if _on_matching_branch(item, located.data)]
        problems = [_describe(item, model, located) for item in items or error.errors()]
        raise ConfigError(f"{located.source}: invalid {what}:\n  " + "\n  ".join(problems)) from None


def _describe(item: dict[str, Any], model: type[pydantic.BaseModel], located: LocatedYaml) -> str:
    loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
    line = located.line_of(loc)
    where = f"line {line}: " if line is not None else ""
    keys = [str(part) for part in loc if isinstance(part, str)]
    dotted = ".".join(str(part) for part in loc)
    kind = item["type"]
    if kind == "extra_forbidden":
        parent = _section_model(model, loc[:-1])
        known = list(parent.model_fields) if parent is not None else []
        section = f" in {'.'.join(keys[:-1])}" if len(keys) > 1 else ""
        hint = did_you_mean(loc[-1], known)
        if not hint and known:
            hint = f" (known keys: {', '.join(known)})"
        return f"{where}unknown key '{loc[-1]}'{section}{hint}"
    if kind == "enum":
        expected = item.get("ctx", {}).get("expected", "")
        choices = [choice.strip(" '") for choice in expected.replace(" or ", ", ").split(",")]
        return f"{where}{dotted}: '{item['input']}' is not one of {expected}{did_you_mean(item['input'], choices)}"
    if kind == "missing":
        return f"{where}{dotted}: required key is missing"
    message = item["msg"].removeprefix("Value error, ")
    if isinstance(item.get("input"), dict) or not dotted:
        return f"{where}{message}"  # a whole section failed a check; its message names the keys
    if kind.startswith("value_error") or "input" not in item:
        return f"{where}{dotted}: {message}"
    return f"{where}{dotted}: {message} (got {item['input']!r})"


def _on_matching_branch(item: dict[str, Any], data: Any) -> bool:
    """False for an error from a union branch of another shape than the value written (list vs mapping)."""
    value = data
    for part in item["loc"]:
        if _is_union_tag(part):
            if part.startswith("list[") and not isinstance(value, list):
                return False
            if part.startswith("dict[") and not isinstance(value, dict):
                return False
            continue
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return True
    return True


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the tried union member into loc ("int", "list[str]", "function-after[...]").
    return isinstance(part, str) and ("[" in part or part in {"int", "float", "str", "bool", "list", "dict", "tuple"})


def _section_model(model: type[pydantic.BaseModel], loc: tuple) -> type[pydantic.BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: _unwrap_model already stepped into the items' model
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, (pydantic.BaseModel, Enum)):
        return annotation
    for argument in getattr(annotation, "__args__", ()) or ():
        found = _unwrap_model(argument)
        if isinstance(found, type) and issubclass(found, pydantic.BaseModel):
            return found
    return annotation
