"""Entry point: ``streamlit run dashboard/app.py`` (from any folder, once the project is installed).

Only routing and the sidebar live here; each page is a file in ``views/``.
"""

from pathlib import Path

# Every heavy import happens here, on the first run, before any page: libraries that import a
# module lazily, on first use, let two sessions' script threads meet a half-imported module
# (seen under load: "partially initialized module 'pandas' has no attribute 'Series'" when a
# canvas first loaded while another session built a chart). A whole-module import waits for
# another thread's import of it to finish; a lazy attribute lookup does not.
import pandas  # noqa: F401  (Streamlit's components and plotly import it lazily)
import plotly.io  # noqa: F401  (st.plotly_chart serialises figures with it)
import pyarrow  # noqa: F401  (Streamlit's component and dataframe data go through it)
import streamlit as st
from plotly.graph_objs import Bar, Contour, Figure, Heatmap, Scatter  # noqa: F401  (loaded lazily by plotly)

from dashboard import charts, state, training_worker  # noqa: F401
from dashboard.server_settings import use_app_folder
from dashboard.server_threads import configure_threads
from dashboard.tab_token import previous_tab_token
from dashboard.widgets import active_network_sidebar

# Not "pages/": Streamlit treats a pages/ folder beside the entry point as a legacy
# multipage app until st.navigation first runs, so a visitor opening /train on a
# fresh server would get that page without this file's routing and sidebar.
PAGES_DIR = Path(__file__).parent / "views"

# An emoji, not a :material/…: icon: Streamlit fetches a Material favicon from fonts.gstatic.com,
# which a classroom offline cannot reach; an emoji favicon is drawn in the page.
st.set_page_config(page_title="Handwritten digits", page_icon="✏️", layout="wide")
use_app_folder(Path(__file__).resolve().parent.parent)
configure_threads()
navigation = st.navigation([
    st.Page(PAGES_DIR / "draw.py", title="Draw", icon=":material/draw:", default=True),
    st.Page(PAGES_DIR / "train.py", title="Train", icon=":material/model_training:"),
    st.Page(PAGES_DIR / "debug.py", title="Debug", icon=":material/bug_report:"),
    st.Page(PAGES_DIR / "networks.py", title="Networks", icon=":material/folder_open:"),
])
with st.sidebar:  # an invisible element: the sidebar has room for it, each page's top has not
    state.restore_after_reload(previous_tab_token(state.tab_token()))
active_network_sidebar()
try:
    navigation.run()
finally:  # also when the page stops or reruns early: widget values changed on this run
    state.remember_for_reload()
