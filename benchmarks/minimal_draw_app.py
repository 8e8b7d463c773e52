"""The smallest app that does what the Draw page does per stroke: the yardstick for its server CPU.

One page with Streamlit's defaults: the same canvas, preprocessing and forward
pass, a metric, the 28×28 image and a Plotly bar chart, all rerun as a whole
script on every stroke. Run by benchmarks/draw_server_cpu.py with the bundled
network in $DIGITS_DEFAULT_NETWORK.
"""

import os

import plotly.graph_objects as go
import streamlit as st

from nn_core.storage.network_file import load_network
from nn_core.preprocess import preprocess

from dashboard.canvas import drawing_canvas


@st.cache_resource
def network():
    return load_network(os.environ["DIGITS_DEFAULT_NETWORK"])[0]


st.title("Draw a digit")
if st.button("Clear"):
    st.session_state.clears = st.session_state.get("clears", 0) + 1
canvas = drawing_canvas(f"canvas_{st.session_state.get('clears', 0)}", {"objects": []}, stroke_width=22, size=280)
if (canvas.json_data or {}).get("objects"):
    result = preprocess(canvas.image_data)
    if not result.empty:
        probabilities = network().predict_proba(result.image)[0]
        st.metric("Prediction", int(probabilities.argmax()))
        st.image(result.image, width=168)
        st.plotly_chart(go.Figure(go.Bar(x=list(range(10)), y=probabilities)))
