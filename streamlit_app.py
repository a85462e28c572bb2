"""Entry point: page config and navigation over pages/. Nothing else."""
from pathlib import Path

import streamlit as st

from app import ui
from app.data import store
from app.present import navigation

st.set_page_config(page_title="Customer Success planner", page_icon=str(Path(__file__).parent / "app" / "icon.png"),
                   layout="wide")

PAGES = {section: [st.Page(p.file, title=p.title, icon=p.icon, default=p.file == navigation.DEFAULT) for p in pages]
         for section, pages in navigation.sections().items()}  # the one page registry: app/present/navigation.py

try:
    page = st.navigation(PAGES)
    ui.sidebar_context()  # the sample-company badge, as-of date and fiscal year on every page
    page.run()
except store.StoreError as exc:  # another process held the store for over a minute
    st.error(str(exc))
finally:
    ui.release()  # the store file is free between runs: `python -m app load` from cron can write
    ui.freeze_long_lived()  # keeps Streamlit's collection after each run cheap (the why: app/ui.py)
