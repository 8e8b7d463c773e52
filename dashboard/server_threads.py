"""The server process's threads: BLAS on one, a CNN's passes on every core."""

from __future__ import annotations

import os

import streamlit as st
from threadpoolctl import threadpool_limits

from nn_core.speed.threads import set_pass_threads

BLAS_THREADS = 1
PASS_THREADS = os.cpu_count() or 1  # a CNN's passes: one thread per core


@st.cache_resource(show_spinner=False)
def configure_threads() -> threadpool_limits:
    """Cap BLAS at one thread and spread a CNN's passes over every core, once per server process.

    The server shares two cores with the browser and with other sessions; a
    multi-threaded BLAS then spins waiting for its second thread and a batch
    takes 10-50x longer. One thread per session keeps training fast and lets
    two sessions train side by side. The pass threads (nn_core.speed.threads)
    wait without spinning, so a CNN still trains and evaluates on every core.
    """
    set_pass_threads(PASS_THREADS)
    return threadpool_limits(limits=BLAS_THREADS, user_api="blas")
