"""Entry point: page config and navigation over pages/. Nothing else."""
from pathlib import Path

import streamlit as st

from app import store, ui

st.set_page_config(page_title="Customer Success planner", page_icon=str(Path(__file__).parent / "app" / "icon.png"), layout="wide")

PAGES = {
    "": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Retention": [
        st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:"),
        st.Page("pages/benchmarks.py", title="Benchmarks", icon=":material/leaderboard:"),
        st.Page("pages/cohorts.py", title="Cohorts & churn", icon=":material/grid_on:"),
    ],
    "Forecast": [
        st.Page("pages/forecast.py", title="Forecast & at-risk", icon=":material/trending_up:"),
    ],
    "Customers": [
        st.Page("pages/health.py", title="Customer health", icon=":material/favorite:"),
        st.Page("pages/account.py", title="Account", icon=":material/business:"),
    ],
    "Planning": [
        st.Page("pages/planner.py", title="Planner", icon=":material/groups:"),
    ],
    "Setup": [
        st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    ],
}

try:
    page = st.navigation(PAGES)
    ui.sidebar_context()  # the sample-company badge, as-of date and fiscal year on every page
    page.run()
except store.StoreError as exc:  # another process held the store for over a minute
    st.error(str(exc))
finally:
    ui.release()  # the store file is free between runs: `python -m app load` from cron can write
