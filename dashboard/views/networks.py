"""Networks page: the saved networks, uploading, creating, downloading, renaming, deleting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import streamlit as st

from nn_core.config import ACTIVATIONS, PRESETS, NetworkConfig
from nn_core.errors import ConfigError, NetworkFileError
from nn_core.storage.network_file import MAX_FILE_BYTES

from dashboard import active_network, networks_folder, server_settings, state
from dashboard.active_network import ActiveNetwork
from dashboard.networks_folder import SavedNetwork
from dashboard.widgets import format_accuracy, save_network_form

ARCHITECTURES = {"mlp": "MLP (hidden layers below)",
                 "cnn": f"CNN preset ({NetworkConfig(layers=PRESETS['cnn']).describe().split()[0]})"}


def saved_table(saved: list[SavedNetwork]) -> None:
    active_path = state.active_network().path
    rows = [{"active": "✓" if item.path == active_path else "",
             "file": item.path.name,
             "name": item.metadata.name if item.metadata else "—",
             "architecture": item.network.describe() if item.network else "—",
             "test accuracy": format_accuracy(item.metadata.test_accuracy) if item.metadata else "—",
             "created": item.metadata.created if item.metadata else "—",
             "status": item.error or "ok",
             "yours": "" if item.read_only_reason else "✓"}
            for item in saved]
    st.dataframe(rows, hide_index=True, width="stretch")


def make_active(active: ActiveNetwork) -> None:
    state.set_active_network(active)


@st.dialog("Rename a saved network")
def rename_dialog(path: Path) -> None:
    library = networks_folder.network_library(state.owner_token())
    new_name = st.text_input("New name", value=path.stem, max_chars=64)
    try:
        st.caption(f"Will be renamed to `{library.path_for(new_name).name}`")
    except NetworkFileError as error:
        st.error(str(error))
        return
    if st.button("Rename", type="primary"):
        try:
            target = library.rename(path, new_name)
        except NetworkFileError as error:
            st.error(str(error))
            return
        active = state.active_network()
        if active.path == path:
            state.set_active_network(ActiveNetwork(active.network, replace(active.metadata, name=target.stem), target))
        st.rerun()


@st.dialog("Delete a saved network")
def delete_dialog(path: Path) -> None:
    st.write(f"Delete `{path.name}` for good? This cannot be undone.")
    confirm, cancel = st.columns(2)
    if confirm.button("Delete", type="primary", icon=":material/delete:"):
        try:
            networks_folder.network_library(state.owner_token()).delete(path)
        except NetworkFileError as error:
            st.error(str(error))
            return
        active = state.active_network()
        if active.path == path:  # still usable in this session, just no longer on disk
            state.set_active_network(ActiveNetwork(active.network, active.metadata, None))
        st.rerun()
    if cancel.button("Cancel"):
        st.rerun()


def saved_actions(saved: list[SavedNetwork]) -> None:
    """Make active, download, rename or delete one chosen saved network."""
    chosen = st.selectbox("Network", saved, format_func=lambda item: item.path.name, key="networks_chosen")
    if chosen is None:
        return
    if chosen.error:
        st.error(f"{chosen.path.name} cannot be used: {chosen.error}")
    activate, download, rename, delete = st.columns(4)
    activate.button("Make active", icon=":material/check_circle:", disabled=chosen.network is None,
                    on_click=make_active, args=(ActiveNetwork(chosen.network, chosen.metadata, chosen.path),),
                    width="stretch")
    download.download_button("Download", chosen.path.read_bytes(), file_name=chosen.path.name,
                             mime="application/octet-stream", icon=":material/download:",
                             on_click="ignore", width="stretch")
    read_only = chosen.read_only_reason is not None
    if rename.button("Rename…", icon=":material/edit:", disabled=read_only, width="stretch"):
        rename_dialog(chosen.path)
    if delete.button("Delete…", icon=":material/delete:", disabled=read_only, width="stretch"):
        delete_dialog(chosen.path)
    if read_only:
        st.caption(f"{chosen.read_only_reason}. Only the session that saved a network can rename or delete it.")


def upload_section() -> None:
    """Validate an uploaded .npz completely before anything can use it."""
    st.subheader("Upload a network")
    # The uploader states the real limit and refuses a bigger file before it is sent.
    upload = st.file_uploader("A network file (.npz) saved by this app or its CLI", type=["npz"],
                              max_upload_size=MAX_FILE_BYTES >> 20, key="network_upload")
    if upload is None:
        return
    try:
        network, metadata = networks_folder.read_uploaded_network(upload.getvalue())
    except NetworkFileError as error:
        st.error(f"{upload.name} is not a valid network file: {error}. Nothing was changed.")
        return
    st.success(f"{upload.name} is a valid network: **{metadata.name}**, `{network.describe()}`, "
               f"test accuracy {format_accuracy(metadata.test_accuracy)}.")
    active = state.active_network()
    if active.path is None and active.fingerprint == active_network.network_fingerprint(network):
        st.caption("It is the active network: save it below.")  # one save form for one network
        return
    st.button("Make it the active network", key="upload_activate", icon=":material/check_circle:",
              on_click=make_active, args=(ActiveNetwork(network, metadata, None),))
    with st.expander("Save it to saved_networks/"):
        save_network_form("upload_save", network, metadata.name,
                          lambda stem: networks_folder.metadata_for_saving(network, metadata, stem))


def create_section() -> None:
    st.subheader("Create a new, untrained network")
    with st.form("create_network"):
        name = st.text_input("Name", value="my-network", max_chars=64)
        kind = st.radio("Architecture", list(ARCHITECTURES), format_func=ARCHITECTURES.get, horizontal=True)
        hidden = st.text_input("Hidden layer sizes", value="128, 64",
                               help="For an MLP: comma-separated; empty for none. Not used by the CNN.")
        activation = st.selectbox("Activation", ACTIVATIONS)
        seed = st.number_input("Seed", 0, 2**31 - 1, value=0)
        if st.form_submit_button("Create and make active", icon=":material/add:"):
            try:
                make_active(active_network.new_untrained_network(name, hidden, activation, int(seed), kind))
            except ConfigError as error:
                st.error(str(error))
                return
            st.rerun()  # the sidebar shows the new network


def active_section() -> None:
    """Download the active network, and save it if it is not on disk yet."""
    active = state.active_network()
    st.subheader("The active network")
    st.write(f"**{active.label}**, `{active.network.describe()}`, test accuracy "
             f"{format_accuracy(active.metadata.test_accuracy)}.")
    st.download_button("Download the active network", networks_folder.network_download(active),
                       file_name=networks_folder.download_file_name(active), mime="application/octet-stream",
                       icon=":material/download:", on_click="ignore", key="download_active")
    if active.path is None:
        with st.expander("Save it to saved_networks/", expanded=True):
            saved = save_network_form("active_save", active.network, active.metadata.name,
                                      lambda stem: networks_folder.metadata_for_saving(active.network,
                                                                                active.metadata, stem))
            if saved is not None:
                state.set_active_network(ActiveNetwork(active.network, saved[1], saved[0]))


st.title("Networks")
saved_networks = networks_folder.list_saved_networks(networks_folder.network_library(state.owner_token()))
st.subheader("Saved networks")
if saved_networks:
    saved_table(saved_networks)
    saved_actions(saved_networks)
else:
    st.info(f"No saved networks in {server_settings.networks_dir()} yet.")
left, right = st.columns(2, gap="large")
with left:
    upload_section()
with right:
    create_section()
active_section()
