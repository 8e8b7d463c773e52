"""Train page: build or pick a network, train it live, keep the result.

Each run trains in a worker process of its own (dashboard.trainer_pool), at a
lower OS priority, so training never holds the server's GIL and a drawing in
another session is answered first. The page only sends commands and reads
what the worker last reported: while the run is busy one fragment redraws its
progress every PROGRESS_REFRESH_SECONDS and another its charts every
CHART_REFRESH_SECONDS, in place instead of fading while a tick computes. The
buttons and settings sit outside them; a moved slider reaches the worker
through RemoteRun.update and applies from its next batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import streamlit as st

from nn_core.config import ACTIVATIONS, LR_SCHEDULES, OPTIMIZERS, NetworkConfig, TrainConfig
from nn_core.errors import ConfigError
from nn_core.storage.network_file import Metadata
from nn_core.training.training_state import TrainingState

from dashboard import (active_network, architecture, labelled_drawings, mnist_cache, server_settings, state,
                       training_server)
from dashboard.arrays import png_data_url
from dashboard.charts import accuracy_chart, hidden_map_chart, learning_rate_chart, loss_chart, true_digit_history_chart
from dashboard.learning_watch import MAP_DIGITS, PredictionWatch, WatchSpec, strip_rows, watched_images
from dashboard.active_network import ActiveNetwork
from dashboard.trainer_pool import RemoteRun
from dashboard.training import CONV_EVAL_IMAGES, MODES, fine_tune_dataset
from dashboard.training_worker import RunSpec, RunStatus, share_read_only
from dashboard.widgets import (format_accuracy, format_loss, learning_strip, require_mnist, save_network_form,
                               wrapping_row_style)

# While a run is busy its progress and numbers redraw this often (a few tens of milliseconds of server time)…
PROGRESS_REFRESH_SECONDS = 1.0
# …and its charts this often: a browser spends far longer drawing a new plotly chart than a
# number, and where a class's browsers share a machine every trainer's redraws delay every drawing.
CHART_REFRESH_SECONDS = 3.0
# …and the hidden-space map, the costliest to draw and the slowest to change, this often.
MAP_REFRESH_SECONDS = 10.0
STEP_WAIT_SECONDS = 15.0  # Step one batch and Pause show their result on the same click unless this slow
LEARNING_RATES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
WEIGHT_DECAYS = [0.0, 1e-5, 1e-4, 1e-3, 1e-2]
LAYER_WIDTHS = [16, 32, 64, 128, 256, 512, 1024]
DEFAULT_WIDTHS = [256, 128, 64, 32]
# A chart's identity in Streamlit includes its data, so each refresh sends a "new" chart: the
# browser inserts it before the old one and keeps the old one, faded, until the fragment's run
# ends. So each live chart shows at full opacity, and one copy of it: the stale one until the new
# one is drawn (plotly draws it a moment after it arrives), then the new one.
LIVE_CHART_STYLE = "<style>{}</style>".format(" ".join(
    f".st-key-{key} {{opacity: 1 !important}} "
    f".st-key-{key}:has(.js-plotly-plot) ~ .st-key-{key} {{display: none}} "
    f".st-key-{key}:not(:has(.js-plotly-plot)):has(~ .st-key-{key}) {{display: none}}"
    for key in ("loss_chart", "accuracy_chart", "lr_chart", "train_hidden_map")))
# The settings and the live panel share a row while each gets the width its widgets need to
# show every label and value whole (two selects side by side; four metrics); narrower, as on a
# 1024 px laptop with the sidebar open, the live panel moves below the settings. So do the two
# ways to keep a result.
ROW_STYLE = wrapping_row_style({"train_settings": (1, "17rem"), "train_live": (2.2, "26rem"),
                                "keep_activate": (1, "16rem"), "keep_save": (2, "20rem")})
GOT_IT_COLUMNS = 4
# TrainConfig's defaults, except the epochs: an MLP epoch on the page's 55k images takes a second
# or so, so TrainConfig's few epochs end before a student has watched the curves move; with these
# a default MLP run streams long enough to watch the loss fall and flatten (Pause stops it sooner).
PAGE_DEFAULTS = replace(TrainConfig(), epochs=30)
MAX_EPOCHS = 1000  # TrainConfig's own limit: a continued run counts the epochs it had already trained
# Settings a running trainer accepts through Trainer.update; the rest need a new run.
LIVE_FIELDS = ("optimizer", "learning_rate", "batch_size", "weight_decay", "augment", "epochs", "lr_schedule")


# -- settings ---------------------------------------------------------------------------
def mlp_structure(locked: bool) -> tuple[int, ...]:
    """Hidden layer widths → MLP ``layers``."""
    n_hidden = st.slider("Hidden layers", 0, 4, key=state.kept_widget("train_n_hidden", 2), disabled=locked)
    columns = st.columns(max(n_hidden, 1))
    widths = [column.select_slider(f"Layer {i + 1} units", LAYER_WIDTHS, disabled=locked,
                                   key=state.kept_widget(f"train_width_{i}", DEFAULT_WIDTHS[i]))
              for i, column in zip(range(n_hidden), columns)]
    return architecture.mlp_layers(widths)


def cnn_structure(locked: bool) -> tuple[dict, ...]:
    """Conv blocks (conv + 2×2 max pool), kernel, batch norm and an optional hidden dense layer
    → CNN ``layers``; the defaults are the preset small CNN."""
    n_blocks = st.slider("Conv blocks", 1, architecture.MAX_CONV_BLOCKS, disabled=locked,
                         key=state.kept_widget("train_conv_blocks", architecture.DEFAULT_CONV_BLOCKS),
                         help="Each block: a convolution, then 2×2 max pooling (halves the maps' size)")
    columns = st.columns(n_blocks)
    channels = [column.select_slider(f"Block {i + 1} channels", architecture.CONV_CHANNELS, disabled=locked,
                                     key=state.kept_widget(f"train_channels_{i}", architecture.DEFAULT_CHANNELS[i]))
                for i, column in enumerate(columns)]
    kernel = st.segmented_control("Kernel", architecture.KERNELS, format_func=lambda k: f"{k}×{k}",
                                  key=state.kept_widget("train_kernel", architecture.DEFAULT_KERNEL),
                                  disabled=locked) or architecture.DEFAULT_KERNEL
    batchnorm = st.toggle("Batch norm", key=state.kept_widget("train_batchnorm", False), disabled=locked,
                          help="Normalise each conv layer's output per channel: trains faster and "
                               "tolerates larger learning rates")
    dense_width = st.select_slider("Hidden dense units", architecture.DENSE_WIDTHS, disabled=locked,
                                   format_func=lambda w: "none" if w == 0 else str(w),
                                   key=state.kept_widget("train_dense", 0),
                                   help="A fully connected layer between the last pooled maps and the outputs")
    return architecture.cnn_layers(channels, kernel, batchnorm, dense_width)


def structure_settings(locked: bool, seed: int) -> NetworkConfig | None:
    """Architecture (MLP or CNN), activation and dropout of a new network (None if invalid)."""
    kind = st.segmented_control("Architecture", architecture.KINDS, key=state.kept_widget("train_kind", "MLP"),
                                disabled=locked, help="MLP: fully connected layers. CNN: convolutions that "
                                "slide small filters over the image, then pooling") or "MLP"
    layers = cnn_structure(locked) if kind == "CNN" else mlp_structure(locked)
    left, right = st.columns(2)
    activation = left.selectbox("Activation", ACTIVATIONS, key=state.kept_widget("train_activation", "relu"),
                                disabled=locked)
    dropout = right.slider("Dropout", 0.0, 0.5, step=0.05, key=state.kept_widget("train_dropout", 0.0),
                           disabled=locked, help="On hidden dense layers only")
    try:
        config = NetworkConfig(layers=layers, activation=activation, dropout=dropout, seed=seed)
    except ConfigError as error:
        st.error(str(error))
        return None
    st.caption(f"`{config.describe()}` · {config.n_parameters:,} parameters  \n"
               f"Shapes: {architecture.shape_summary(config)}")
    if config.is_convolutional:
        batch_size = state.widget_value("train_batch", PAGE_DEFAULTS.batch_size)
        rate = training_server.training_speed(config, config.describe(), batch_size)
        epoch_seconds = len(mnist_cache.training_split()[0]) / rate
        st.caption("A CNN learns more from each image but trains far slower per image than an MLP. "
                   f"Timed on this server: about {rate:,.0f} images/s, so an epoch takes about "
                   f"{format_duration(epoch_seconds)} (longer while others train); "
                   f"validation uses {CONV_EVAL_IMAGES:,} images.")
    return config


def starting_settings(mode: str, active: ActiveNetwork) -> TrainConfig:
    """What the settings start from: the page's defaults for a new network; the network's own
    settings (its file's train_config) to go on training it, with the page's number of epochs
    (counted from the saved run's start when Continue goes on with it)."""
    stored = active.metadata.train_config
    if mode == "new" or not stored:
        return PAGE_DEFAULTS
    try:
        config = TrainConfig.from_dict(stored)
    except (ConfigError, TypeError):
        return PAGE_DEFAULTS  # settings this version cannot read: start from the page's own
    saved_run = active_network.saved_training_state(active) if mode == "continue" else None
    return replace(config, epochs=PAGE_DEFAULTS.epochs + (saved_run.epochs_done if saved_run else 0))


def run_to_continue(mode: str, active: ActiveNetwork, train_config: TrainConfig) -> TrainingState | None:
    """The active network's saved run, when Continue can go on with it exactly: same optimizer
    (its state fits no other) and epochs left to train."""
    saved_run = active_network.saved_training_state(active) if mode == "continue" else None
    stored = active.metadata.train_config or {}
    if saved_run is None or stored.get("optimizer") != train_config.optimizer:
        return None
    return saved_run if train_config.epochs > saved_run.epochs_done else None


def follow_starting_settings(mode: str, active: ActiveNetwork, config: TrainConfig) -> None:
    """Show ``config`` (the starting settings) in the widgets whenever the mode or the active
    network changes."""
    state.set_widgets_once(f"{mode}:{active.fingerprint if mode != 'new' else ''}", {
        "train_lr": config.learning_rate, "train_optimizer": config.optimizer, "train_schedule": config.lr_schedule,
        "train_batch": config.batch_size, "train_l2": config.weight_decay, "train_epochs": config.epochs,
        "train_augment": config.augment})


def choices_with(choices: list, key: str, default) -> list:
    """``choices`` plus the widget's current value (a network's own setting may be off the list)."""
    return sorted({*choices, state.widget_value(key, default)})


def optimisation_settings(seed: int, defaults: TrainConfig) -> TrainConfig | None:
    """Optimizer and friends, changed from ``defaults`` (which hold the settings without a
    widget, e.g. Adam's betas); all of them can change while training runs."""
    learning_rate = st.select_slider("Learning rate", choices_with(LEARNING_RATES, "train_lr", defaults.learning_rate),
                                     key=state.kept_widget("train_lr", defaults.learning_rate))
    left, right = st.columns(2)
    optimizer = left.selectbox("Optimizer", OPTIMIZERS, key=state.kept_widget("train_optimizer", defaults.optimizer))
    schedule = right.selectbox("Schedule", LR_SCHEDULES, key=state.kept_widget("train_schedule", defaults.lr_schedule),
                               help="cosine lowers the learning rate smoothly to 0 over all epochs")
    left, right = st.columns(2)
    batch_size = left.select_slider("Batch size", choices_with(BATCH_SIZES, "train_batch", defaults.batch_size),
                                    key=state.kept_widget("train_batch", defaults.batch_size))
    weight_decay = right.select_slider("L2 weight decay", choices_with(WEIGHT_DECAYS, "train_l2", defaults.weight_decay),
                                       format_func=lambda v: f"{v:g}",
                                       key=state.kept_widget("train_l2", defaults.weight_decay))
    left, right = st.columns(2, vertical_alignment="bottom")
    epochs = left.number_input("Epochs", 1, MAX_EPOCHS, key=state.kept_widget("train_epochs", defaults.epochs))
    augment = right.toggle("Augment", key=state.kept_widget("train_augment", defaults.augment),
                           help="Random shifts, rotations, scaling and stroke thickness on every batch")
    try:
        return replace(defaults, optimizer=optimizer, learning_rate=learning_rate, batch_size=batch_size,
                       epochs=int(epochs), weight_decay=weight_decay, augment=augment,
                       lr_schedule=schedule, seed=seed)
    except ConfigError as error:
        st.error(str(error))
        return None


def apply_live_settings(run: RemoteRun, config: TrainConfig) -> None:
    """Hand changed sliders to the running trainer (takes effect from the next batch)."""
    changes = {name: getattr(config, name) for name in LIVE_FIELDS
               if getattr(config, name) != getattr(run.train_config, name)}
    if changes:
        run.update(**changes)


# -- starting a run ----------------------------------------------------------------------
def training_data(mode: str) -> tuple[np.ndarray | str, np.ndarray | str] | None:
    """Training images and labels for ``mode``: the shared MNIST files, or (N, 784) uint8 arrays
    of labelled drawings mixed with MNIST when fine-tuning (None if there are no drawings)."""
    train_x_file, train_y_file, _, _ = mnist_cache.shared_training_files()
    if mode != "fine_tune":
        return train_x_file, train_y_file
    drawings = state.labelled_drawings()
    if not drawings:
        return None
    train_x, train_y, _, _ = mnist_cache.training_split()
    images, labels = labelled_drawings.drawings_as_arrays(drawings)
    return fine_tune_dataset(images, labels, train_x, train_y, np.random.default_rng(len(drawings)))


def new_run(mode: str, network_config: NetworkConfig | None, train_config: TrainConfig) -> RemoteRun | None:
    data = training_data(mode)
    if data is None:
        return None
    active = state.active_network()
    if mode == "new":
        weights, base_name = None, architecture.run_name(network_config)
    else:
        suffix = "finetuned" if mode == "fine_tune" else "continued"
        network_config, base_name = active.network.config, f"{active.metadata.name}-{suffix}"
        weights = {name: param.copy() for name, param in active.network.state_dict().items()}
    _, _, val_x_file, val_y_file = mnist_cache.shared_training_files()
    spec = RunSpec(network_config, weights, train_config, mode, base_name, *data, val_x_file, val_y_file,
                   watch=watch_spec(), training_state=run_to_continue(mode, active, train_config))
    return RemoteRun(spec, training_server.trainer_pool(), state.session_id())


def watch_spec() -> WatchSpec:
    """What the run shows while it learns: this session's drawing and labelled drawings, fixed
    test digits, and the map's test digits."""
    data = mnist_cache.mnist()
    classification = state.current_classification()
    drawing = None if classification is None else classification.preprocessed.image
    labelled = [(labelled.image, labelled.label) for labelled in state.labelled_drawings()]
    images, names, labels = watched_images(data.test_images, data.test_labels, drawing, labelled)
    # The map's digits go as a shared file, like the training data: the spec sent to a
    # starting worker stays small.
    map_images = share_read_only(data.test_images[:MAP_DIGITS], server_settings.shared_mnist_dir(), "map-images")
    return WatchSpec(PredictionWatch(images, names, labels), map_images, np.asarray(data.test_labels[:MAP_DIGITS]),
                     drawing)


def settings_complete(mode: str, network_config: NetworkConfig | None, train_config: TrainConfig | None) -> bool:
    """Whether a new run can start: valid settings, and drawings to fine-tune on if fine-tuning."""
    if train_config is None or (mode == "new" and network_config is None):
        return False
    return mode != "fine_tune" or bool(state.labelled_drawings())


def current_or_new_run(mode: str, network_config: NetworkConfig | None,
                       train_config: TrainConfig | None) -> RemoteRun | None:
    """The session's run, creating it from the settings on first use (None if they cannot start one)."""
    run = state.training_run()
    if run is None and train_config is not None:
        run = new_run(mode, network_config, train_config)
        state.set_training_run(run)
    return run


# -- controls ----------------------------------------------------------------------------
# Callbacks run before the page is drawn, so the buttons, the sidebar and the
# fragment's refreshing all reflect the new state in the same rerun.
def start_training(get_run: Callable[[], RemoteRun | None]) -> None:
    run = get_run()
    if run is not None:
        run.start()


def pause_training() -> None:
    """Pause, and show where the run stopped on this click (the worker stops within a tick)."""
    run = state.training_run()
    run.pause()
    run.wait_until(lambda r: not r.busy, STEP_WAIT_SECONDS)


def step_one_batch(get_run: Callable[[], RemoteRun | None]) -> None:
    """One batch, shown on this click unless the run waits for a trainer (then the panel refreshes)."""
    run = get_run()
    sequence = run.step_batches(1)
    if not run.waiting:
        run.wait_until(lambda r: r.acknowledged(sequence), STEP_WAIT_SECONDS)


def step_one_epoch(get_run: Callable[[], RemoteRun | None]) -> None:
    """Train live, as Start does, up to the end of the current epoch."""
    get_run().step_epoch()


def reset_training() -> None:
    state.set_training_run(None)


def control_buttons(get_run: Callable[[], RemoteRun | None], can_start: bool) -> None:
    """Start / Pause / Step one batch / Step one epoch / Reset."""
    run = state.training_run()
    stopped = run is not None and (run.status.done or run.error is not None)
    running = run is not None and run.training
    idle_disabled = (run is not None and run.busy) or not can_start or stopped
    with st.container(horizontal=True, key="train_controls"):  # wraps rather than cutting a label short
        if running:
            st.button("Pause", icon=":material/pause:", type="primary", on_click=pause_training)
        else:
            st.button("Start" if run is None else "Resume", icon=":material/play_arrow:", type="primary",
                      disabled=idle_disabled, on_click=start_training, args=(get_run,))
        st.button("Step one batch", disabled=idle_disabled, on_click=step_one_batch, args=(get_run,))
        st.button("Step one epoch", disabled=idle_disabled, on_click=step_one_epoch, args=(get_run,))
        st.button("Reset", icon=":material/restart_alt:", disabled=run is None, on_click=reset_training)


# -- the live panel -----------------------------------------------------------------------
def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def progress_line(status: RunStatus) -> None:
    rate = status.samples_per_second
    rate_text = f"{rate:,.0f} samples/s" if rate else "samples/s: …"
    epochs = status.config.epochs
    epoch = min(status.epochs_done + 1, epochs)
    stop_text = " · pausing when this epoch ends" if status.stopping_at_epoch_end else ""
    st.progress(status.progress, text=f"Epoch {epoch} of {epochs} · {rate_text} · "
                                      f"ETA {format_duration(status.eta_seconds)}{stop_text}")
    accuracy = status.latest_validation_accuracy
    with st.container(horizontal=True, gap="medium"):  # each as wide as its figure: a narrow panel wraps them
        st.metric("Batches", f"{status.step_count:,}", width="content")
        st.metric("Samples seen", f"{status.samples_seen:,}", width="content")
        st.metric("Last loss", format_loss(status.last_loss), width="content")
        st.metric("Validation accuracy", "–" if accuracy is None else f"{accuracy:.2%}", width="content")


def chart_config(refreshing: bool) -> dict[str, object]:
    """Plotly's options for a chart: static while it is redrawn every few seconds (a hover or
    zoom would not outlive the next redraw, and a static chart costs the browser less to draw)."""
    return {"staticPlot": True} if refreshing else {}


def training_charts(run: RemoteRun, refreshing: bool) -> None:
    """The loss, accuracy and learning-rate charts, built before any is sent: Streamlit keeps a
    replaced chart on the page, faded, until the fragment's run ends (see LIVE_CHART_STYLE)."""
    history = run.history()
    log_scale = st.toggle("Loss on a log scale", key=state.kept_widget("train_loss_log", False),
                          help="Shows the loss still falling after its first steep drop")
    loss = loss_chart(history.step, history.loss, log_scale=log_scale)
    accuracy = accuracy_chart(history.step, history.train_accuracy, history.eval_step, history.eval_accuracy)
    learning_rate = learning_rate_chart(history.step, history.learning_rate)
    config = chart_config(refreshing)
    st.plotly_chart(loss, key="loss_chart", config=config)
    left, right = st.columns([3, 2])
    left.plotly_chart(accuracy, key="accuracy_chart", config=config)
    right.plotly_chart(learning_rate, key="lr_chart", config=config)


def trainer_state_line(run: RemoteRun) -> None:
    """Why nothing moves yet: the run waits for a free trainer, or its worker is starting."""
    if run.waiting:
        st.info(f"Waiting for a free trainer ({run.places_ahead or 0} ahead): the runs before it train first.",
                icon=":material/hourglass_top:")
    elif run.starting:
        st.caption("Starting the trainer…")


def live_progress(refreshing: bool) -> None:
    """The run's state, progress and figures as its worker last reported them. ``refreshing``:
    this fragment redraws itself every PROGRESS_REFRESH_SECONDS, which stops (with a rerun of
    the whole page, whose buttons change) once the run is no longer busy."""
    run = state.training_run()
    if run is None:
        st.info("Choose the settings, then press **Start** (or step one batch at a time).")
        return
    if refreshing and not run.busy:
        st.rerun()
    if run.error is not None:
        st.error(f"{run.error}\n\nPress Reset to start again.", icon=":material/error:")
    trainer_state_line(run)
    status = run.status
    if status.done:
        st.success(f"Training finished: validation accuracy {format_accuracy(status.latest_validation_accuracy)}.")
    progress_line(status)


def live_charts(refreshing: bool) -> None:
    """The charts and the watched digits, redrawn every CHART_REFRESH_SECONDS while ``refreshing``."""
    run = state.training_run()
    if run is None:
        return
    training_charts(run, refreshing)
    learning_strip_view(run)


def live_map(refreshing: bool) -> None:
    """The hidden-space map, redrawn every MAP_REFRESH_SECONDS while ``refreshing``."""
    run = state.training_run()
    if run is not None:
        hidden_map_view(run, refreshing)


def learning_strip_view(run: RemoteRun) -> None:
    """The watched digits with what the network reads now, as the run's worker last looked at them."""
    watch = run.watch()
    if watch is None:
        return
    st.markdown("**Your digits while it learns**")
    st.caption("Your drawing, your labelled drawings and eight test digits (one hard one), with what the "
               "network reads now. Watch it change its mind.")
    urls = state.built_for("train_strip_images", id(run), lambda: [png_data_url(image) for image in watch.images])
    learning_strip(strip_rows(watch, urls), key="learning_strip")


def hidden_map_view(run: RemoteRun, refreshing: bool) -> None:
    """Where the last hidden layer puts the test digits (and the drawing), as last mapped."""
    if run.hidden_map is None:
        return
    hidden = run.hidden_map
    figure = state.built_for("train_map", (id(run), run.map_version), lambda: hidden_map_chart(
        hidden.points, run.map_labels, hidden.star, title=f"How it sorts {len(hidden.points):,} test digits"))
    st.plotly_chart(figure, key="train_hidden_map", config=chart_config(refreshing))
    st.caption("Each dot a test digit, placed by the last hidden layer; colours are the true digits. "
               "The groups form as it learns." + (" The star is your drawing." if hidden.star is not None
                                                  else ""))


def got_it_charts(run: RemoteRun) -> None:
    """After a run: for each watched digit with a known label, the probability of that digit
    batch by batch, and the moment the network got it."""
    watch = run.watch()
    if watch is None or len(watch.batches) < 2:
        return
    known = [index for index, label in enumerate(watch.labels) if label >= 0]
    st.markdown("**When did it get each digit?**")
    for row in range(0, len(known), GOT_IT_COLUMNS):
        for column, index in zip(st.columns(GOT_IT_COLUMNS), known[row:row + GOT_IT_COLUMNS]):
            batches, probabilities = watch.true_class_history(index)
            column.plotly_chart(true_digit_history_chart(batches, probabilities,
                                                         f"{watch.names[index]}: P({watch.labels[index]})"),
                                key=f"got_it_{index}")


# -- keeping the result ------------------------------------------------------------------------
def trained_metadata(run: RemoteRun, name: str) -> Metadata:
    return Metadata.new(name, test_accuracy=mnist_cache.test_accuracy(run.network()),
                        train_config=run.train_config.to_dict(), history=run.history().to_dict(),
                        command=f"dashboard Train page: {MODES[run.mode].lower()}")


def keep_result(run: RemoteRun) -> None:
    """Make the trained network active, or save it to saved_networks/."""
    st.subheader("Keep the result")
    row = st.container(horizontal=True, gap="large", key="keep_row")
    activate, save = row.container(key="keep_activate"), row.container(key="keep_save")
    network = run.network()
    with save:
        saved = save_network_form("train_save", network, run.base_name, lambda stem: trained_metadata(run, stem))
        if saved is not None:
            state.remember_saved_training_result(run, ActiveNetwork(network, saved[1], saved[0]))
    with activate:
        # Once saved, the saved file becomes active: its name, its measured accuracy, its ✓ on Networks.
        saved_file = state.saved_training_result(run, active_network.network_fingerprint(network))
        st.caption("Use it on the Draw and Debug pages" +
                   (f" (as `{saved_file.path.name}`)." if saved_file else " (for this session only)."))
        if st.button("Make it the active network", icon=":material/check_circle:"):
            if saved_file is None:
                with st.spinner("Measuring test accuracy…"):
                    state.set_active_network(ActiveNetwork(network, trained_metadata(run, run.base_name), None))
            else:
                state.set_active_network(saved_file)
            st.rerun()


# -- after a reload ---------------------------------------------------------------------------
def previous_run_notice(previous: state.PreviousRun) -> None:
    """What the run a reload stopped had reached, and what is left of it to use."""
    status = previous.status
    run = f"The training run from before the reload ({MODES.get(previous.mode, 'training').lower()} · " \
          f"`{previous.network}`)"
    reached = (f"{run} had finished its {status.config.epochs} epochs" if status.done else
               f"{run} stopped with the reload (a run stops with its page) after {status.epochs_done} of "
               f"{status.config.epochs} epochs ({status.step_count:,} batch{'es' if status.step_count > 1 else ''})")
    with st.container(key="previous_run"):
        st.warning(f"{reached}: validation accuracy {format_accuracy(status.latest_validation_accuracy)}.",
                   icon=":material/history:")
        use, dismiss = st.columns([3, 1])
        if previous.saved is not None and previous.saved.path is not None and previous.saved.path.exists():
            use.caption(f"Its result is still in the library as `{previous.saved.path.name}`.")
            if previous.saved.fingerprint != state.active_network().fingerprint:
                use.button(f"Make {previous.saved.path.name} the active network", icon=":material/check_circle:",
                           on_click=state.set_active_network, args=(previous.saved,))
        elif previous.stopped_run is not None:
            use.caption("It was not training at the reload, so what it had learned is kept: keep the result "
                        "below, or press Start for a new run.")
        else:
            use.caption("What it learned since it last paused was lost with it; press Start to train again "
                        "(your settings are as you left them).")
        dismiss.button("Dismiss", key="dismiss_previous_run", on_click=state.dismiss_previous_run)


# -- the page ----------------------------------------------------------------------------------
st.title("Train a network")
st.html(LIVE_CHART_STYLE + ROW_STYLE)
require_mnist()
current = state.training_run()
previous = state.previous_run() if current is None else None
if previous is not None:
    previous_run_notice(previous)
mode = st.segmented_control("What to train", list(MODES), format_func=MODES.get,
                            key=state.kept_widget("train_mode", "new"), disabled=current is not None) or "new"
if current is not None:
    mode = current.mode
    st.caption(f"Current run: {MODES[mode].lower()} · `{current.network_config.describe()}` — press Reset to change "
               "the architecture or the mode.")
if mode == "fine_tune" and not state.labelled_drawings():
    st.info("Fine-tuning needs labelled drawings: draw digits on the Draw page and tell it the right digit.")

page_row = st.container(horizontal=True, gap="large", key="train_row")
with page_row.container(key="train_settings"):
    seed = int(st.number_input("Seed", 0, 2**31 - 1, key=state.kept_widget("train_seed", 0),
                               disabled=current is not None, help="Initial weights, shuffling, augmentation"))
    starting = starting_settings(mode, state.active_network())
    with st.expander("Network", expanded=mode == "new"):
        if mode == "new":
            network_config = structure_settings(locked=current is not None, seed=seed)
        else:
            network_config = None
            st.write(f"Starts from the active network `{state.active_network().network.describe()}`.")
            saved_run = run_to_continue(mode, state.active_network(), starting)
            if saved_run is not None:
                st.caption(f"Goes on with its saved run after epoch {saved_run.epochs_done} (optimizer state "
                           "and all): Epochs counts from that run's start.")
    st.markdown("**Training**")
    if current is None:
        follow_starting_settings(mode, state.active_network(), starting)
    train_config = optimisation_settings(seed, starting)
if current is not None and train_config is not None:
    apply_live_settings(current, train_config)
with page_row.container(key="train_live"):
    control_buttons(lambda: current_or_new_run(mode, network_config, train_config),
                    can_start=current is not None or settings_complete(mode, network_config, train_config))
    busy = current is not None and current.busy
    st.fragment(live_progress, run_every=PROGRESS_REFRESH_SECONDS if busy else None)(refreshing=busy)
    st.fragment(live_charts, run_every=CHART_REFRESH_SECONDS if busy else None)(refreshing=busy)
    st.fragment(live_map, run_every=MAP_REFRESH_SECONDS if busy else None)(refreshing=busy)
run = state.training_run()
if run is None and previous is not None and previous.saved is None:
    run = previous.stopped_run  # paused or finished at the reload: its weights are what it had trained
if run is not None and run.status.step_count and not run.busy and run.error is None:
    got_it_charts(run)
    keep_result(run)
