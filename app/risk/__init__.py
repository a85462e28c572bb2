"""The bottom-up renewal model (moved into a package; split into modules in the next commits)."""
from app.risk.model import *  # noqa: F403
from app.risk.model import _base_predict, _base_rates, _extra_account_columns, _usage_metrics  # noqa: F401
