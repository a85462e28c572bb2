"""The page registry, written once: every page's file, title, icon, section and what a user gets there.

streamlit_app.py builds the navigation from it, Home lists its "where to go next" from it, and the
tests and the benchmark walk the same list. Plain data: no Streamlit import.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PageSpec:
    file: str  # relative to the repository root, as st.Page takes it
    title: str
    icon: str
    section: str  # "" = top of the navigation
    blurb: str = ""  # Home's "where to go next" line ("" = not listed there)

    @property
    def url_path(self) -> str:
        """The page's URL path as Streamlit derives it from the file name ('' for the default page, Home)."""
        name = Path(self.file).stem
        return "" if name == "home" else name


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/home.py", "Home", ":material/home:", ""),
    PageSpec("pages/overview.py", "Overview", ":material/monitoring:", "Retention",
             "ARR, NRR, GRR, logo retention and renewal rate with their change, and the ARR bridge as a waterfall."),
    PageSpec("pages/benchmarks.py", "Benchmarks", ":material/leaderboard:", "Retention",
             "Each segment's GRR, NRR and renewal rate against public benchmarks (source and year shown) and the "
             "house thresholds."),
    PageSpec("pages/cohorts.py", "Cohorts & churn", ":material/grid_on:", "Retention",
             "Cohort retention, and the reasons customers gave for leaving with the root causes behind them."),
    PageSpec("pages/forecast.py", "Forecast & at-risk", ":material/trending_up:", "Forecast",
             "ARR, new and churned ARR forecasts with their backtest; renewals due, expected renewed ARR (P10-P90) "
             "and the accounts at risk, why, and what to do."),
    PageSpec("pages/health.py", "Customer health", ":material/favorite:", "Customers",
             "Each account's health score and band, the biggest movers this week and why, lifecycle stages, each "
             "CSM's book, and how well the score predicted past renewals."),
    PageSpec("pages/account.py", "Account", ":material/business:", "Customers"),
    PageSpec("pages/planner.py", "Planner", ":material/groups:", "Planning",
             "CSM headcount and CS budget as % of ARR against the new customers Sales expects, with saved "
             "scenarios side by side."),
    PageSpec("pages/data.py", "Data", ":material/upload_file:", "Setup",
             "Load accounts, subscriptions, usage, NPS, tickets, churn reasons and the CSM roster (CSV, Excel or "
             "Parquet), or reset to the sample company."),
)
DEFAULT = "pages/home.py"


def sections() -> dict[str, list[PageSpec]]:
    """The pages grouped by section, in registry order."""
    out: dict[str, list[PageSpec]] = {}
    for p in PAGES:
        out.setdefault(p.section, []).append(p)
    return out


def next_steps() -> list[PageSpec]:
    """The pages Home points to, with what a user gets there."""
    return [p for p in PAGES if p.blurb]
