"""Customer health: a weekly 0-100 score per account, explained factor by factor (docs/health.md).

- factors.py: raw factor values per (account, date), in DuckDB;
- scorecard.py: configs (learned scorecard, house), bins, points, versions in the store;
- stages.py: lifecycle stage rules;
- snapshots.py: scores at dates, weekly snapshots, movers, why a score moved;
- evaluate.py: past quarters' renewals against the score and the renewal model;
- book.py: one CSM's book and the account page's data.
"""
