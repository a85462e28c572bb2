"""Lifecycle stages: onboarding, activation, adoption, renewal (rules in docs/health.md).

At a date, in this order:

1. renewal: an annual-or-longer contract of the account ends in the next 90 days
   (monthly and quarterly renewals come up all the time: they make no stage);
2. onboarding: under ONBOARDING_MONTHS (3) in the current run of months with ARR, or under
   ACTIVATION_DEADLINE_MONTHS (12) and not activated;
3. activation: under 12 months and activated;
4. adoption: everyone else.

Activated = seat utilisation (active users / seats) in the last complete month at least
ACTIVATION_UTILISATION (40%); without seats or an active-users metric, any usage that month.
Stuck in onboarding = in onboarding past its expected length (3 months).
"""
from __future__ import annotations

import numpy as np

STAGES = ("onboarding", "activation", "adoption", "renewal")
ONBOARDING_MONTHS = 3.0
ACTIVATION_DEADLINE_MONTHS = 12.0
ACTIVATION_UTILISATION = 0.4


def activated(utilisation: np.ndarray, usage_level: np.ndarray | None) -> np.ndarray:
    u = np.asarray(utilisation, float)
    any_use = (np.zeros(len(u), bool) if usage_level is None
               else np.nan_to_num(np.asarray(usage_level, float), nan=0.0) > 0)
    return np.where(np.isnan(u), any_use, u >= ACTIVATION_UTILISATION)


def stage(tenure_months: np.ndarray, utilisation: np.ndarray, usage_level: np.ndarray | None,
          renewal_due: np.ndarray) -> np.ndarray:
    """The stage of each account-date (vectorised; unknown tenure counts as new)."""
    t = np.nan_to_num(np.asarray(tenure_months, float), nan=0.0)
    act = activated(utilisation, usage_level)
    due = np.asarray(renewal_due, bool)
    return np.select(
        [due, (t < ONBOARDING_MONTHS) | ((t < ACTIVATION_DEADLINE_MONTHS) & ~act), t < ACTIVATION_DEADLINE_MONTHS],
        ["renewal", "onboarding", "activation"], default="adoption")


def stuck(stage_: np.ndarray, tenure_months: np.ndarray) -> np.ndarray:
    """In onboarding past its expected length."""
    return (np.asarray(stage_) == "onboarding") & (np.nan_to_num(np.asarray(tenure_months, float)) >= ONBOARDING_MONTHS)


def stage_sql(tenure_months: str, utilisation: str | None, usage: str | None, renewal_due: str) -> str:
    """stage() in SQL over expressions: tenure (NULL = unknown), utilisation (NULL = unknown), the usage
    whose level tells "any use" (level = log1p(usage), above 0 exactly when usage is), renewal due (boolean)."""
    from app.health.factors import sql_double

    t = f"coalesce({tenure_months}, 0)"
    any_use = f"coalesce(({usage}) > 0, false)" if usage is not None else "false"
    act = (f"CASE WHEN ({utilisation}) IS NULL THEN {any_use} ELSE ({utilisation}) >= "
           f"{sql_double(ACTIVATION_UTILISATION)} END") if utilisation is not None else any_use
    onb, dead = sql_double(ONBOARDING_MONTHS), sql_double(ACTIVATION_DEADLINE_MONTHS)
    return (f"CASE WHEN {renewal_due} THEN 'renewal' WHEN {t} < {onb} OR ({t} < {dead} AND NOT ({act})) "
            f"THEN 'onboarding' WHEN {t} < {dead} THEN 'activation' ELSE 'adoption' END")
