"""The Streamlit dashboard: draw, train, debug and manage networks (run dashboard/app.py)."""
