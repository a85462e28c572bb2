"""Planner scenarios: the documented, versioned inputs of the capacity & budget model.

A scenario is JSON on disk (schema in docs/planning.md, example in
data/scenarios/example.json), a frozen dataclass in memory, and a compact
urlsafe-base64 token in a shareable URL. Validation names the offending field
("segments.Mid-Market.coverage.accounts_per_csm: ...") so a malformed file is
fixed in one go.

Conventions: every rate is a fraction (0.10 = 10%) except `target_pct_arr`,
which is a percentage (8.5 = 8.5% of ARR) as its name says. Money is in the
store's currency per year.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import zlib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from app.rules import periods

SCHEMA_VERSION = 1
MAX_MONTHS = 60
COVERAGE_MODELS = ("accounts", "arr", "hours")
TECH_TOUCH = "Tech touch"

# Named monthly shapes for a yearly total of new customers, by month of the *fiscal* year
# (first month .. twelfth; with a calendar fiscal year that is Jan..Dec). A list of 12
# weights in a scenario is by calendar month, Jan..Dec.
SHAPES: dict[str, tuple[float, ...]] = {
    "flat": (1,) * 12,
    # Bookings bunch at quarter ends: the third month of each (fiscal) quarter books double.
    "quarter_end": (1, 1, 2) * 4,
    # A plan that ramps through the year (Sales capacity grows): weights 1..12.
    "back_loaded": tuple(float(i) for i in range(1, 13)),
}

# How the plan phases hiring (docs/planning.md, "Hiring rules").
HIRING_RULES: dict[str, str] = {
    "fill_gap": "Fill the gap as it appears",
    "quarterly": "Hire each quarter",
    "cap": "Cap hires per month",
    "tolerance": "Tolerate a coverage gap",
}
MIX_TOLERANCE = 0.005  # shares may miss 100% by half a point (33.3 / 33.3 / 33.4 rounding)


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Start:
    """Where each segment stands at the plan's start. None = fill from the store."""

    accounts: float | None = None
    arr: float | None = None
    csms: int | None = None


@dataclass(frozen=True)
class Demand:
    # Exactly one of new_per_month (one number, or one value per plan month) and
    # new_per_year (spread over calendar months by `shape`); neither = 0 new.
    new_per_month: tuple[float, ...] | None = None
    new_per_year: float | None = None
    shape: str | tuple[float, ...] = "flat"
    avg_new_arr: float = 0.0
    annual_logo_churn: float = 0.0
    annual_net_expansion: float = 0.0  # of the ARR of retained accounts


@dataclass(frozen=True)
class Coverage:
    model: str = "accounts"  # accounts | arr | hours
    accounts_per_csm: float = 50.0
    arr_per_csm: float = 2_000_000.0
    hours_per_account_year: float = 30.0
    hours_per_csm_year: float = 1_800.0  # contracted working hours
    utilisation: float = 0.85  # share of working hours actually available
    admin_share: float = 0.30  # share of available hours on internal / admin work


@dataclass(frozen=True)
class People:
    cost_per_csm: float = 165_000.0  # fully loaded, per year
    annual_raise: float = 0.03
    ramp_months: int = 3
    ramp_productivity: float = 0.5
    annual_attrition: float = 0.15
    lead_time_months: int = 2
    manager_span: int = 8
    manager_cost: float = 220_000.0  # fully loaded, per year


@dataclass(frozen=True)
class Cost:
    tooling_per_csm: float = 6_000.0  # per CSM per year


@dataclass(frozen=True)
class Hiring:
    """How hires are phased; one rule for the plan, applied to each segment."""

    rule: str = "fill_gap"  # fill_gap | quarterly | cap | tolerance
    max_per_month: int = 2  # cap: at most this many hires start in a month, in each segment
    gap_tolerance: float = 0.05  # tolerance: hire only when available FTE < (1 - this) x required FTE


@dataclass(frozen=True)
class NewCustomers:
    """Demand as one total for the plan year plus a share per segment (instead of per segment)."""

    total_per_year: float = 0.0  # new customers in the plan's first 12 months, all segments
    mix: tuple[tuple[str, float], ...] = ()  # (segment, share); shares are fractions adding up to 1

    def share(self, segment: str) -> float:
        return dict(self.mix).get(segment, 0.0)


@dataclass(frozen=True)
class Segment:
    name: str
    tech_touch: bool = False  # no named CSM: a pooled team covers the accounts
    start: Start = field(default_factory=Start)
    demand: Demand = field(default_factory=Demand)
    coverage: Coverage = field(default_factory=Coverage)
    people: People = field(default_factory=People)
    cost: Cost = field(default_factory=Cost)


@dataclass(frozen=True)
class Scenario:
    name: str = "Base"
    start_month: dt.date = dt.date(2026, 1, 1)
    months: int = 12
    target_pct_arr: float = 8.5
    segments: tuple[Segment, ...] = ()
    notes: str = ""
    version: int = SCHEMA_VERSION
    fiscal_year_start: int = 1  # month (1-12) the fiscal year starts in; 1 = calendar year
    new_customers: NewCustomers | None = None  # None: each segment states its own demand
    hiring: Hiring = field(default_factory=Hiring)

    def segment(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def needs_start(self) -> bool:
        """True when some start value is missing (the CLI / page fill it from the store)."""
        return any(v is None for s in self.segments for v in (s.start.accounts, s.start.arr, s.start.csms))


# ------------------------------------------------------------------ field metadata
# One place for each input's label, unit, valid range and the slider range people
# think in. Validation uses `lo`/`hi`; the page uses `slider`.

@dataclass(frozen=True)
class FieldSpec:
    group: str
    name: str
    label: str
    kind: str  # fraction | int | number | money
    lo: float
    hi: float | None
    slider: tuple[float, float, float] | None = None  # (min, max, step) in display units
    help: str = ""


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("start", "accounts", "Accounts now", "number", 0, None, None,
              "Active accounts (ARR > 0) at the as-of month end, from the store."),
    FieldSpec("start", "arr", "ARR now", "money", 0, None, None,
              "ARR of those accounts at the as-of month end, from the store."),
    FieldSpec("start", "csms", "CSMs now", "int", 0, None, None,
              "CSMs on the roster at the as-of date (start <= as-of < end)."),
    FieldSpec("demand", "new_per_year", "New customers, per year", "number", 0, None, (0, 2000, 10),
              "New logos per year, spread over calendar months by the shape."),
    FieldSpec("demand", "avg_new_arr", "Average new ARR", "money", 0, None, None,
              "Starting ARR of a new customer."),
    FieldSpec("demand", "annual_logo_churn", "Annual logo churn", "fraction", 0, 0.99, (0, 0.6, 0.01),
              "Share of accounts lost per year; monthly = 1 - (1 - annual)^(1/12)."),
    FieldSpec("demand", "annual_net_expansion", "Annual net expansion", "fraction", -0.9, 2.0, (-0.2, 0.4, 0.01),
              "ARR growth of retained accounts per year (expansion minus contraction)."),
    FieldSpec("coverage", "accounts_per_csm", "Accounts per CSM", "number", 1, None, (5, 1000, 5),
              "Ratio model: required FTE = accounts / accounts per CSM."),
    FieldSpec("coverage", "arr_per_csm", "ARR per CSM", "money", 1, None, (250_000, 8_000_000, 250_000),
              "ARR model: required FTE = ARR / ARR per CSM."),
    FieldSpec("coverage", "hours_per_account_year", "Hours per account per year", "number", 0, None, (1, 200, 1),
              "Hours model: CSM time an account needs per year."),
    FieldSpec("coverage", "hours_per_csm_year", "Working hours per CSM per year", "number", 1, 8760,
              (1200, 2200, 20), "Contracted hours per CSM per year."),
    FieldSpec("coverage", "utilisation", "Utilisation", "fraction", 0.05, 1, (0.5, 1, 0.01),
              "Share of working hours available (after leave, training)."),
    FieldSpec("coverage", "admin_share", "Admin share", "fraction", 0, 0.95, (0, 0.6, 0.01),
              "Share of available hours spent on internal / admin work."),
    FieldSpec("people", "cost_per_csm", "Fully loaded cost per CSM", "money", 0, None, (50_000, 300_000, 5_000),
              "Per year: salary, variable, benefits, taxes, equipment."),
    FieldSpec("people", "annual_raise", "Annual raise", "fraction", -0.5, 1, (0, 0.1, 0.005),
              "Applied to CSM and manager cost on each plan anniversary."),
    FieldSpec("people", "ramp_months", "Ramp (months)", "int", 0, 24, (0, 12, 1),
              "Months a new hire works at ramp productivity."),
    FieldSpec("people", "ramp_productivity", "Productivity while ramping", "fraction", 0, 1, (0, 1, 0.05),
              "FTE a ramping hire delivers (0.5 = half a CSM)."),
    FieldSpec("people", "annual_attrition", "Annual attrition", "fraction", 0, 0.99, (0, 0.5, 0.01),
              "Share of CSMs leaving per year; replaced by the plan."),
    FieldSpec("people", "lead_time_months", "Hiring lead time (months)", "int", 0, 24, (0, 9, 1),
              "Months from opening a requisition to the hire's start."),
    FieldSpec("people", "manager_span", "Manager span of control", "int", 1, 100, (3, 15, 1),
              "CSMs per manager; managers = ceil(headcount / span)."),
    FieldSpec("people", "manager_cost", "Fully loaded cost per manager", "money", 0, None, None,
              "Per year."),
    FieldSpec("cost", "tooling_per_csm", "Tooling per CSM", "money", 0, None, (0, 30_000, 500),
              "CS platform and other licences per CSM per year."),
)
FIELD = {(f.group, f.name): f for f in FIELDS}

# ------------------------------------------------------------------ defaults
# House defaults (assumptions, editable): coverage ratios and ARR per account from
# docs/planning.md and /reference benchmarks (accounts per CSM: SMB 200-500,
# Mid-Market 40-80, Enterprise 10-25, tech touch up to 1:1,000); CSM cost =
# levels.fyi median total compensation $132k x 1.25 loaded; attrition, ramp and
# lead time have no credible public figure.

_SEGMENT_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "SMB": {"demand": {"avg_new_arr": 5_000, "annual_logo_churn": 0.15, "annual_net_expansion": 0.0},
            "coverage": {"accounts_per_csm": 250, "arr_per_csm": 1_250_000, "hours_per_account_year": 5}},
    "Mid-Market": {"demand": {"avg_new_arr": 30_000, "annual_logo_churn": 0.10, "annual_net_expansion": 0.04},
                   "coverage": {"accounts_per_csm": 60, "arr_per_csm": 1_800_000, "hours_per_account_year": 18}},
    "Enterprise": {"demand": {"avg_new_arr": 150_000, "annual_logo_churn": 0.06, "annual_net_expansion": 0.08},
                   "coverage": {"accounts_per_csm": 15, "arr_per_csm": 2_250_000, "hours_per_account_year": 70},
                   "people": {"cost_per_csm": 190_000}},
    TECH_TOUCH: {"demand": {"avg_new_arr": 2_000, "annual_logo_churn": 0.25, "annual_net_expansion": 0.0},
                 "coverage": {"accounts_per_csm": 1000, "arr_per_csm": 2_000_000, "hours_per_account_year": 1}},
}
DEFAULT_SEGMENTS = ("SMB", "Mid-Market", "Enterprise", TECH_TOUCH)


def default_segment(name: str, tech_touch: bool | None = None) -> Segment:
    """House defaults for a segment (by name; unknown names get the generic defaults)."""
    d = _SEGMENT_DEFAULTS.get(name, {})
    tt = name == TECH_TOUCH if tech_touch is None else tech_touch
    if tt and not d:
        d = _SEGMENT_DEFAULTS[TECH_TOUCH]
    return Segment(
        name=name, tech_touch=tt,
        demand=Demand(**d.get("demand", {})),
        coverage=Coverage(**d.get("coverage", {})),
        people=People(**d.get("people", {})),
        cost=Cost(**d.get("cost", {})),
    )


def default_scenario(start_month: dt.date, segments: tuple[str, ...] = DEFAULT_SEGMENTS) -> Scenario:
    return Scenario(start_month=start_month.replace(day=1), segments=tuple(default_segment(s) for s in segments))


# ------------------------------------------------------------------ dict <-> Scenario

def to_dict(s: Scenario) -> dict[str, Any]:
    """The JSON form: explicit, every field written (so a file reproduces the plan)."""
    segs: dict[str, Any] = {}
    for seg in s.segments:
        d = asdict(seg)
        name = d.pop("name")
        dem = d["demand"]
        if dem["new_per_month"] is not None:
            dem["new_per_month"] = list(dem["new_per_month"])
        if isinstance(dem["shape"], tuple):
            dem["shape"] = list(dem["shape"])
        segs[name] = d
    out: dict[str, Any] = {
        "version": s.version, "name": s.name, "start_month": s.start_month.isoformat(), "months": s.months,
        "fiscal_year_start": s.fiscal_year_start, "target_pct_arr": s.target_pct_arr, "notes": s.notes,
        "hiring": asdict(s.hiring)}
    if s.new_customers is not None:
        out["new_customers"] = {"total_per_year": s.new_customers.total_per_year,
                                "mix": {k: v for k, v in s.new_customers.mix}}
    out["segments"] = segs
    return out


def dumps(s: Scenario, indent: int | None = 2) -> str:
    return json.dumps(to_dict(s), indent=indent, separators=None if indent else (",", ":"))


def _num(v: Any, where: str, spec: FieldSpec | None = None, integer: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError(f"{where}: expected a number, got {v!r}")
    if v != v or v in (float("inf"), float("-inf")):
        raise ScenarioError(f"{where}: expected a finite number, got {v!r}")
    if integer and int(v) != v:
        raise ScenarioError(f"{where}: expected a whole number, got {v!r}")
    if spec is not None and (v < spec.lo or (spec.hi is not None and v > spec.hi)):
        rng = f"between {spec.lo:g} and {spec.hi:g}" if spec.hi is not None else f"at least {spec.lo:g}"
        hint = " (a fraction: 0.10 = 10%)" if spec.kind == "fraction" else ""
        raise ScenarioError(f"{where}: must be {rng}{hint}, got {v!r}")
    return int(v) if integer else float(v)


def _group(raw: dict[str, Any], key: str, cls: type, where: str, group: str) -> Any:
    val = raw.get(key, {})
    if not isinstance(val, dict):
        raise ScenarioError(f"{where}.{key}: expected an object, got {type(val).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(val) - names)
    if unknown:
        raise ScenarioError(f"{where}.{key}.{unknown[0]}: unknown field (known: {', '.join(sorted(names))})")
    return val


def _segment_from(name: str, raw: Any, where: str) -> Segment:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected an object, got {type(raw).__name__}")
    known = {"tech_touch", "start", "demand", "coverage", "people", "cost"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ScenarioError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
    tt = raw.get("tech_touch", name == TECH_TOUCH)
    if not isinstance(tt, bool):
        raise ScenarioError(f"{where}.tech_touch: expected true or false, got {tt!r}")
    base = default_segment(name, tt)

    st = _group(raw, "start", Start, where, "start")
    start_kw: dict[str, Any] = {}
    for k in ("accounts", "arr", "csms"):
        v = st.get(k)
        start_kw[k] = None if v is None else _num(v, f"{where}.start.{k}", FIELD[("start", k)], integer=k == "csms")

    dm = _group(raw, "demand", Demand, where, "demand")
    dkw: dict[str, Any] = {}
    npm = dm.get("new_per_month")
    if npm is not None:
        if isinstance(npm, list):
            if not npm:
                raise ScenarioError(f"{where}.demand.new_per_month: expected a number or a non-empty list")
            spec = FIELD[("demand", "new_per_year")]
            dkw["new_per_month"] = tuple(_num(x, f"{where}.demand.new_per_month[{i}]", spec)
                                         for i, x in enumerate(npm))
        else:
            dkw["new_per_month"] = (_num(npm, f"{where}.demand.new_per_month", FIELD[("demand", "new_per_year")]),)
    npy = dm.get("new_per_year")
    if npy is not None:
        if npm is not None:
            raise ScenarioError(f"{where}.demand.new_per_year: give either new_per_month or new_per_year, not both")
        dkw["new_per_year"] = _num(npy, f"{where}.demand.new_per_year", FIELD[("demand", "new_per_year")])
    shape = dm.get("shape", base.demand.shape)
    if isinstance(shape, str):
        if shape not in SHAPES:
            raise ScenarioError(f"{where}.demand.shape: unknown shape {shape!r} (known: {', '.join(SHAPES)}, "
                                "or a list of 12 weights Jan..Dec)")
        dkw["shape"] = shape
    elif isinstance(shape, list):
        if len(shape) != 12:
            raise ScenarioError(f"{where}.demand.shape: expected 12 weights (Jan..Dec), got {len(shape)}")
        w = tuple(_num(x, f"{where}.demand.shape[{i}]") for i, x in enumerate(shape))
        if min(w) < 0 or sum(w) <= 0:
            raise ScenarioError(f"{where}.demand.shape: weights must be >= 0 and not all zero")
        dkw["shape"] = w
    else:
        raise ScenarioError(f"{where}.demand.shape: expected a name or a list of 12 weights, got {shape!r}")
    for k in ("avg_new_arr", "annual_logo_churn", "annual_net_expansion"):
        if k in dm:
            dkw[k] = _num(dm[k], f"{where}.demand.{k}", FIELD[("demand", k)])
    demand = replace(base.demand, **dkw)

    cv = _group(raw, "coverage", Coverage, where, "coverage")
    ckw: dict[str, Any] = {}
    if "model" in cv:
        if cv["model"] not in COVERAGE_MODELS:
            raise ScenarioError(f"{where}.coverage.model: expected one of {', '.join(COVERAGE_MODELS)}, "
                                f"got {cv['model']!r}")
        ckw["model"] = cv["model"]
    for k, v in cv.items():
        if k != "model":
            ckw[k] = _num(v, f"{where}.coverage.{k}", FIELD[("coverage", k)])
    coverage = replace(base.coverage, **ckw)

    pp = _group(raw, "people", People, where, "people")
    pkw: dict[str, Any] = {k: _num(v, f"{where}.people.{k}", FIELD[("people", k)],
                                   integer=FIELD[("people", k)].kind == "int")
                           for k, v in pp.items()}
    people = replace(base.people, **pkw)

    co = _group(raw, "cost", Cost, where, "cost")
    cost = replace(base.cost, **{k: _num(v, f"{where}.cost.{k}", FIELD[("cost", k)]) for k, v in co.items()})
    return Segment(name, tt, Start(**start_kw), demand, coverage, people, cost)


_TOP = {"version", "name", "start_month", "months", "target_pct_arr", "notes", "segments", "fiscal_year_start",
        "new_customers", "hiring"}


def _hiring_from(raw: Any) -> Hiring:
    if raw is None:
        return Hiring()
    if not isinstance(raw, dict):
        raise ScenarioError(f"hiring: expected an object, got {type(raw).__name__}")
    known = set(Hiring.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ScenarioError(f"hiring.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
    rule = raw.get("rule", "fill_gap")
    if rule not in HIRING_RULES:
        raise ScenarioError(f"hiring.rule: expected one of {', '.join(HIRING_RULES)}, got {rule!r}")
    kw: dict[str, Any] = {"rule": rule}
    if "max_per_month" in raw:
        kw["max_per_month"] = _num(raw["max_per_month"], "hiring.max_per_month",
                                   FieldSpec("", "max_per_month", "", "int", 1, 1000), integer=True)
    if "gap_tolerance" in raw:
        kw["gap_tolerance"] = _num(raw["gap_tolerance"], "hiring.gap_tolerance",
                                   FieldSpec("", "gap_tolerance", "", "fraction", 0, 0.5))
    return Hiring(**kw)


def _new_customers_from(raw: Any, segments: tuple[Segment, ...]) -> NewCustomers | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ScenarioError(f"new_customers: expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"total_per_year", "mix"})
    if unknown:
        raise ScenarioError(f"new_customers.{unknown[0]}: unknown field (known: mix, total_per_year)")
    if "total_per_year" not in raw:
        raise ScenarioError("new_customers.total_per_year: required (new customers in the plan year, all segments)")
    total = _num(raw["total_per_year"], "new_customers.total_per_year", FIELD[("demand", "new_per_year")])
    mix = raw.get("mix")
    if not isinstance(mix, dict) or not mix:
        raise ScenarioError("new_customers.mix: expected an object of shares by segment, e.g. "
                            "{\"SMB\": 0.2, \"Mid-Market\": 0.6, \"Enterprise\": 0.2}")
    names = [g.name for g in segments]
    shares = []
    for k, v in mix.items():
        if k not in names:
            raise ScenarioError(f"new_customers.mix.{k}: no such segment (segments: {', '.join(names)})")
        shares.append((k, _num(v, f"new_customers.mix.{k}", FieldSpec("", k, "", "fraction", 0, 1))))
    got = sum(v for _, v in shares)
    if abs(got - 1.0) > MIX_TOLERANCE:
        raise ScenarioError(f"new_customers.mix: the shares must add up to 100% (1.0 as fractions), "
                            f"got {got * 100:.4g}% ({got:.4g})")
    for g in segments:
        if g.demand.new_per_month is not None or g.demand.new_per_year is not None:
            field_name = "new_per_month" if g.demand.new_per_month is not None else "new_per_year"
            raise ScenarioError(f"segments.{g.name}.demand.{field_name}: new customers are given as a total "
                                "with a mix (new_customers); give them either that way or per segment, not both")
    order = {n: i for i, n in enumerate(names)}
    return NewCustomers(total, tuple(sorted(shares, key=lambda kv: order[kv[0]])))


def from_dict(raw: Any) -> Scenario:
    """Validate a parsed JSON scenario; ScenarioError names the first bad field."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"scenario: expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise ScenarioError(f"{unknown[0]}: unknown field (known: {', '.join(sorted(_TOP))})")
    version = raw.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ScenarioError(f"version: this planner reads version {SCHEMA_VERSION}, got {version!r}")
    name = raw.get("name", "Scenario")
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(f"name: expected a non-empty text, got {name!r}")
    if "start_month" not in raw:
        raise ScenarioError("start_month: required (first month of the plan, e.g. \"2026-01-01\")")
    try:
        sm = dt.date.fromisoformat(str(raw["start_month"])[:10])
    except ValueError:
        raise ScenarioError(f"start_month: expected an ISO date like 2026-01-01, got {raw['start_month']!r}") from None
    months = _num(raw.get("months", 12), "months", FieldSpec("", "months", "", "int", 1, MAX_MONTHS), integer=True)
    target = _num(raw.get("target_pct_arr", 8.5), "target_pct_arr",
                  FieldSpec("", "target_pct_arr", "", "number", 0, 100))
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise ScenarioError(f"notes: expected text, got {notes!r}")
    segs_raw = raw.get("segments")
    if not isinstance(segs_raw, dict) or not segs_raw:
        raise ScenarioError("segments: expected an object with at least one segment, e.g. {\"SMB\": {...}}")
    segs = []
    for sname, sraw in segs_raw.items():
        if not str(sname).strip():
            raise ScenarioError("segments: a segment name is empty")
        segs.append(_segment_from(str(sname), sraw, f"segments.{sname}"))
    fy = _num(raw.get("fiscal_year_start", 1), "fiscal_year_start",
              FieldSpec("", "fiscal_year_start", "", "int", 1, 12), integer=True)
    hiring = _hiring_from(raw.get("hiring"))
    new_customers = _new_customers_from(raw.get("new_customers"), tuple(segs))
    scen = Scenario(name.strip(), sm.replace(day=1), int(months), target, tuple(segs), notes, SCHEMA_VERSION,
                    int(fy), new_customers, hiring)
    for seg in scen.segments:
        npm = seg.demand.new_per_month
        if npm is not None and len(npm) not in (1, scen.months):
            raise ScenarioError(f"segments.{seg.name}.demand.new_per_month: {len(npm)} values given; "
                                f"give one number or {scen.months} (one per plan month)")
    return scen


def loads(text: str) -> Scenario:
    """A scenario from JSON text (never a path); ScenarioError names the bad field."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return from_dict(raw)


def load_file(path: str | Path) -> Scenario:
    """A scenario from a JSON file chosen by the operator (the CLI's --scenario, the bundled example)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"scenario file {p}: cannot read it ({exc.strerror or exc})") from None
    return loads(text)


def load_scenario(path_or_text: str | Path) -> Scenario:
    """JSON text (starting with '{'), or else a file path: for trusted callers only (CLI, tests).

    Text from a user or a link goes through loads(), which never touches the file system.
    """
    if isinstance(path_or_text, Path) or not str(path_or_text).lstrip().startswith("{"):
        return load_file(path_or_text)
    return loads(str(path_or_text))


# ------------------------------------------------------------------ URL token

def encode_url(s: Scenario) -> str:
    """A compact urlsafe token carrying the whole scenario (zlib-compressed JSON, base64, no padding)."""
    raw = zlib.compress(dumps(s, indent=None).encode("utf-8"), 9)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_url(token: str) -> Scenario:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        text = zlib.decompress(raw).decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError):
        raise ScenarioError("scenario link: the link is damaged (cut short?); ask for it again") from None
    if not text.lstrip().startswith("{"):  # a link carries an encoded scenario, nothing else (never a path)
        raise ScenarioError("scenario link: it does not hold a scenario; ask for it again")
    return loads(text)


# ------------------------------------------------------------------ helpers

def new_per_month(seg: Segment, start_month: dt.date, months: int, fiscal_year_start: int = 1) -> list[float]:
    """New customers in each plan month, from whichever demand form the segment uses.

    A yearly total is spread by the shape: a named shape by month of the fiscal year
    (quarter_end doubles the third month of each fiscal quarter), a list of 12 weights
    by calendar month Jan..Dec. Any 12 consecutive plan months receive the yearly total.
    """
    d = seg.demand
    if d.new_per_month is not None:
        return [d.new_per_month[0]] * months if len(d.new_per_month) == 1 else list(d.new_per_month[:months])
    if d.new_per_year is not None:
        if isinstance(d.shape, str):
            w, first = SHAPES[d.shape], fiscal_year_start  # weights[0] is the fiscal year's first month
        else:
            w, first = d.shape, 1  # weights[0] is January
        total = float(sum(w))
        months_in = [periods.add_months(start_month, i).month for i in range(months)]
        return [d.new_per_year * w[(m - first) % 12] / total for m in months_in]
    return [0.0] * months


def segment_demand(s: Scenario, seg: Segment) -> Demand:
    """The segment's demand with a scenario-level total + mix resolved into its own yearly total."""
    if s.new_customers is None:
        return seg.demand
    return replace(seg.demand, new_per_month=None, new_per_year=s.new_customers.total_per_year
                   * s.new_customers.share(seg.name))


def segment_new(s: Scenario, seg: Segment, months: int | None = None) -> list[float]:
    """New customers of one segment in each plan month (first `months`, default the whole plan)."""
    g = seg if s.new_customers is None else replace(seg, demand=segment_demand(s, seg))
    return new_per_month(g, s.start_month, s.months if months is None else months, s.fiscal_year_start)


def per_segment_demand(s: Scenario) -> Scenario:
    """The scenario in the per-segment form: a total + mix becomes each segment's yearly total."""
    if s.new_customers is None:
        return s
    return replace(s, new_customers=None,
                   segments=tuple(replace(g, demand=segment_demand(s, g)) for g in s.segments))


def with_total_mix(s: Scenario, total_per_year: float, mix: dict[str, float]) -> Scenario:
    """The scenario with demand as a total + mix; segments keep their shapes, drop their own totals."""
    segs = tuple(replace(g, demand=replace(g.demand, new_per_month=None, new_per_year=None)) for g in s.segments)
    order = {g.name: i for i, g in enumerate(s.segments)}
    return replace(s, segments=segs, new_customers=NewCustomers(
        float(total_per_year), tuple(sorted(((k, float(v)) for k, v in mix.items()), key=lambda kv: order[kv[0]]))))


def mix_of(s: Scenario, months: int = 12) -> tuple[float, dict[str, float]]:
    """The plan year's new customers (first `months` months) in total and each segment's share."""
    per = {g.name: sum(segment_new(s, g, months)) for g in s.segments}
    total = sum(per.values())
    return total, {k: (v / total if total > 0 else 1.0 / len(per)) for k, v in per.items()}


def with_demand_mode(s: Scenario, by_total: bool, total_per_year: float | None = None,
                     shares_pct: dict[str, float] | None = None) -> Scenario:
    """The scenario with the planner's demand choice: per segment, or one yearly total plus a mix given
    in percent per segment."""
    if not by_total:
        return per_segment_demand(s)
    assert total_per_year is not None and shares_pct is not None  # a total + mix comes with both
    return with_total_mix(replace(s, new_customers=None), float(total_per_year),
                          {n: v / 100.0 for n, v in shares_pct.items()})


def mix_words(shares_pct: dict[str, float]) -> str:
    """The mix as typed, its sum, and a warning when it misses 100% by more than the tolerance."""
    got = sum(shares_pct.values())
    return (f"Mix: {' / '.join(f'{v:g}%' for v in shares_pct.values())} = {got:g}%"
            + ("" if abs(got - 100) <= 100 * MIX_TOLERANCE else " (the shares must add up to 100%)"))


def shape_name(d: Demand) -> str:
    """The named shape a demand shows in a picker (a list of 12 weights shows as flat)."""
    return d.shape if isinstance(d.shape, str) else "flat"


def with_picked_shape(d: Demand, shape: str) -> Demand:
    """A segment's demand under a total + mix (its own totals dropped) with the shape picked: a list of
    12 weights is kept while the picker still shows the name it maps to."""
    return replace(d, new_per_month=None, new_per_year=None,
                   shape=shape if shape != shape_name(d) or not isinstance(d.shape, tuple) else d.shape)


def with_year_total(d: Demand, year_shown: float, new_year: float, shape: str) -> Demand:
    """A segment's demand after its yearly-total slider and shape picker: a moved slider (or another shape
    for a yearly total) gives the yearly total spread by the shape; otherwise the demand as it was."""
    if new_year != year_shown or (d.new_per_year is not None and shape != shape_name(d)):
        return replace(d, new_per_month=None, new_per_year=float(new_year), shape=shape)
    return d


def empty_tech_touch(s: Scenario) -> list[int]:
    """Positions of the tech-touch segments with nothing in them (no accounts, ARR, CSMs or new customers
    in the plan year): the planner keeps them in the plan but off screen until asked for."""
    return [i for i, g in enumerate(s.segments) if g.tech_touch
            and not (g.start.accounts or g.start.arr or g.start.csms) and not sum(segment_new(s, g, 12))]


def with_segment(s: Scenario, seg: Segment) -> Scenario:
    """The scenario with one segment replaced (by name)."""
    return replace(s, segments=tuple(seg if x.name == seg.name else x for x in s.segments))


def set_field(s: Scenario, segment: str, group: str, name: str, value: Any) -> Scenario:
    """The scenario with segments.<segment>.<group>.<name> = value (for sliders)."""
    seg = s.segment(segment)
    part = getattr(seg, group)
    return with_segment(s, replace(seg, **{group: replace(part, **{name: value})}))
