"""Training on this server: the one pool of trainer slots every session shares, and how fast
this server trains a given network."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.runtime import Runtime

from nn_core.config import NetworkConfig, TrainConfig
from nn_core.model.network import Network
from nn_core.training.trainer import Trainer

from dashboard import server_settings, server_threads
from dashboard.trainer_pool import TrainerPool

TIMING_BATCHES = 3  # batches timed (after one to warm up): enough to smooth one slow batch, still quick


def session_is_open(session_id: str) -> bool:
    """Whether the browser tab of ``session_id`` is still connected (always, outside a server)."""
    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


@st.cache_resource(show_spinner=False)
def trainer_pool() -> TrainerPool:
    """The server's one pool of trainer slots, shared by every session."""
    return TrainerPool(server_settings.max_trainers(), session_is_open)


@st.cache_data(max_entries=32, show_spinner="Timing a few batches of this network on this server…")
def training_speed(_config: NetworkConfig, architecture: str, batch_size: int) -> float:
    """Images per second this server trains ``_config`` at (cached per ``architecture``, its
    description, and batch size): what the page promises is what this machine does."""
    rng = np.random.default_rng(0)
    n_images = (TIMING_BATCHES + 2) * batch_size
    trainer = Trainer(Network(_config), rng.integers(0, 256, (n_images, 784), dtype=np.uint8),
                      rng.integers(0, 10, n_images), TrainConfig(batch_size=batch_size, epochs=1))
    server_threads.configure_threads()
    trainer.step()
    timed = trainer.step(TIMING_BATCHES)
    return timed.samples / timed.seconds
