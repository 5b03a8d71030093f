"""The one place that turns configs into objects: data module, front end + model, a trained run's model, a
pretrained encoder."""
from __future__ import annotations

from pathlib import Path

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from audioclust import checks, io
from audioclust.data.windowing import FIELDS
from audioclust.errors import AudioclustError, CheckpointError, ConfigError

BLOCKAE = "blockae"   # the `encoder` choice that embeds with a train.py run (run_dir=...)
# the versions of what a train run (run_config.yaml) and a fit (encoder.json) record: their `schema`, written by this
# version; read back only when it is this one (no older layout is read). 2: encoder.json's windowing in one record.
RUN_SCHEMA, FIT_SCHEMA = 1, 2


def check_schema(path, found, again: str, expected: int = RUN_SCHEMA) -> None:
    """A train run's run_config.yaml (RUN_SCHEMA) or a fit's encoder.json (FIT_SCHEMA) is read only when this version
    wrote it (`schema`): otherwise one ConfigError naming the command that writes it again."""
    if found != expected:
        by = "a newer" if isinstance(found, int) and found > expected else "an older"
        raise ConfigError(f"{path} was written by {by} audioclust: fit it again with this version ({again})")


def instantiate(node: DictConfig, **kwargs):
    """hydra.utils.instantiate, with a constructor's own ConfigError (one line, exit 2) passed on as it is rather
    than wrapped in Hydra's InstantiationException (at every level of nesting)."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, AudioclustError):
            raise cause from None
        raise


def build_data(data_cfg: DictConfig):
    """The LightningDataModule of a `data` node (its constructor checks every value; nothing is read yet)."""
    return instantiate(data_cfg)


def build_model(cfg: DictConfig):
    """The LightningModule of a run config: its `model` node builds the front end and network nodes it holds."""
    return instantiate(cfg.model)


def load_run(run_dir) -> tuple[DictConfig, object]:
    """The run's resolved config and its model with weights from model.pt (weights_only)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "run_config.yaml"
    if not cfg_path.is_file():
        raise CheckpointError(f"{run_dir} is not a finished train run: no run_config.yaml "
                              "(pass run_dir=<the output dir of train.py>)")
    cfg = OmegaConf.load(cfg_path)
    check_schema(cfg_path, cfg.get("schema"), "audioclust-train with the overrides in "
                 f"{run_dir / '.hydra' / 'overrides.yaml'}")
    model = build_model(cfg)
    ckpt = io.load_torch(run_dir / "model.pt")
    # what decides its embeddings (the embedding store's key): the weights and the model's config
    model.run_identity = {"checkpoint": io.sha256(run_dir / "model.pt"),
                          "model": OmegaConf.to_yaml(cfg.model, resolve=True)}
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{run_dir / 'model.pt'} holds no state_dict")
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        first = "; ".join(str(exc).splitlines()[1:3]).strip()
        raise CheckpointError(f"checkpoint {run_dir / 'model.pt'} does not match the run's config: {first}") from None
    return cfg, model.eval()


def encoder_name(cfg: DictConfig) -> str:
    """The cluster config's `encoder` choice: blockae (a train.py run) or a pretrained encoder (conf/encoder)."""
    node = cfg.get("encoder") or {}
    if node.get("name"):
        return str(node.name)
    return str(node["_target_"]).rsplit(".", 1)[-1] if node.get("_target_") else BLOCKAE   # a user's own yaml


def check_embedder(cfg: DictConfig, voice_groups: bool = False) -> None:
    """Before any work: encoder=blockae needs its run and keeps the run's audio settings; a pretrained encoder
    needs no run, reads data.root, and has no long-term spectra for voice groups."""
    name, data = encoder_name(cfg), cfg.get("data") or {}
    if name == BLOCKAE:
        checks.required(cfg, "run_dir")
        for key in ("root", "clip_seconds", "hop_seconds"):
            if data.get(key) is not None:
                from audioclust.embed.encoders import registry  # (imports Lightning: only here)

                how = "pass input=/path/to/clips for other audio" if key == "root" else "train with it"
                raise ConfigError(f"data.{key} is the train run's with encoder=blockae: {how} "
                                  f"(or use a pretrained encoder: encoder={'|'.join(registry.pretrained())})")
        if data.get("native_seconds") is not None:
            raise ConfigError("data.native_seconds is a pretrained encoder's input length: encoder=blockae reads the "
                              "clips its run was trained on")
        return
    if mix_with_run(cfg.encoder):
        checks.required(cfg, "run_dir")
    elif OmegaConf.select(cfg, "run_dir") is not None:
        raise ConfigError(f"run_dir is a train.py run, for encoder=blockae (or a mix with blockae among "
                          f"encoder.members); encoder={name} needs none (outputs go under logs/cluster/runs)")
    if voice_groups:
        raise ConfigError(f"voice groups need the block autoencoder's long-term spectra: use voice=none with encoder={name}")
    if name == "auto" and cfg.get("mode") == "assign":
        raise ConfigError("encoder=auto picks an encoder when fitting: assign with the fit's pick, "
                          "encoder=<name in its encoder.json> clusters_dir=<its output dir>")
    if cfg.get("mode") == "assign" and not cfg.get("clusters_dir") and not mix_with_run(cfg.encoder):
        raise ConfigError(f"mode=assign with encoder={name} needs clusters_dir=<the output dir of its mode=fit run>")


def encoder_node(name: str) -> DictConfig:
    """conf/encoder/<name>.yaml as shipped with the package: a pretrained encoder (for encoder=auto's candidates
    and encoder=mix's members)."""
    from audioclust.embed.encoders import registry

    if name not in registry.pretrained():
        raise ConfigError(f"{name!r} is not a pretrained encoder: use {', '.join(registry.pretrained())}")
    return registry.node(name)


def member_nodes(model) -> list[DictConfig]:
    """encoder=mix's members' nodes, in order, as each is run alone (their embedding stores): a pretrained member's
    shipped conf/encoder/<name>.yaml, blockae's its name (its identity is the train run's)."""
    return [OmegaConf.create({"name": BLOCKAE}) if n == BLOCKAE else encoder_node(n) for n in model.names]


def members_at_rates(model, dm) -> list[tuple]:
    """encoder=mix's members as each is embedded alone: (name, model, node, the data module at its rate)."""
    return [(n, m, node, dm.at_rate(int(m.sr))) for n, m, node in zip(model.names, model.members, member_nodes(model))]


def mix_with_run(node) -> bool:
    """encoder=mix with the block autoencoder of a train.py run (run_dir) among its members."""
    return BLOCKAE in [str(n) for n in ((node or {}).get("members") or [])]


def build_encoder(node: DictConfig, trained=None):
    """The frozen pretrained encoder of an `encoder` node; its `name` is recorded, not passed to the class. A
    missing package is one ConfigError naming its pip command. encoder=mix: its `members` are built by name,
    `blockae` from `trained` (a train.py run's model, load_run)."""
    from audioclust.embed.encoders.trained import TrainedEncoder

    plain = OmegaConf.create({k: v for k, v in node.items() if k not in ("name", "members")})
    if node.get("members") is None:
        return instantiate(plain)
    members = {str(n): TrainedEncoder(trained) if str(n) == BLOCKAE else build_encoder(encoder_node(str(n)))
               for n in node.members}
    return instantiate(plain, _partial_=True)(members=members)


def load_embedder(cfg: DictConfig) -> tuple[DictConfig, object, DictConfig | None]:
    """What a cluster run embeds with: (the data config its data module starts from, the model, the train run's
    config or None). encoder=blockae: the run at run_dir, its data config and trained model; a pretrained
    encoder: the frozen model and `encoder_data` (conf/data/folder.yaml) at the encoder's sample rate (each file
    is resampled on load); a mix with blockae: that at the mix's rate, cut as the run cuts its clips (and the
    run's folder and labels unless data.root is given)."""
    if encoder_name(cfg) == BLOCKAE:
        run_cfg, model = load_run(cfg.run_dir)
        return run_cfg.data, model, run_cfg
    if not mix_with_run(cfg.encoder):
        model = build_encoder(cfg.encoder)
        return encoder_data(cfg, model), model, None
    run_cfg, trained = load_run(cfg.run_dir)
    model = build_encoder(cfg.encoder, trained)
    data = encoder_data(cfg, model)
    own = ("root", "synthetic", "labels") if OmegaConf.select(cfg, "data.root") is None else ()   # the run's folder
    for key in (*own, *FIELDS, "trim_db"):   # cut as the run cuts its clips (data.* overrides still win)
        if key in run_cfg.data:
            data[key] = run_cfg.data[key]
    return data, model, run_cfg


def encoder_data(cfg: DictConfig, model) -> DictConfig:
    """A pretrained encoder's base data config: `encoder_data` (conf/data/folder.yaml) at the model's rate."""
    data = OmegaConf.create(OmegaConf.to_container(cfg.encoder_data, resolve=True))
    data.sr = int(model.sr)
    return data


def _set_values(tree):
    """The overrides that are set: null leaves mean 'keep the run's value'."""
    if isinstance(tree, dict):
        kept = {k: _set_values(v) for k, v in tree.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {}}
    return tree


def make_datamodule(data_cfg: DictConfig, overrides=None, input_dir: str | None = None):
    """The data module of a base data config (a train run's, or a pretrained encoder's), the cluster config's
    `data` overrides (null: keep) and `input` (another folder of audio)."""
    plain = OmegaConf.to_container(overrides, resolve=True) if overrides is not None else {}
    cfg = OmegaConf.merge(data_cfg, _set_values(plain))
    if input_dir:
        cfg.root, cfg.synthetic = str(input_dir), None
    return build_data(cfg)


def build_store(cfg: DictConfig, node, model, dm, out):
    """The embedding store of a cluster run (conf/cluster.yaml `store`; embed/store.py), for the encoder of `node`:
    under store.dir (null: this run's own, out/embed/store)."""
    from audioclust.embed.store import Store, identity_of

    s = cfg.get("store") or {}
    identity = identity_of(OmegaConf.to_container(node, resolve=True), model, dm)
    return Store(s.get("dir") or Path(out) / "embed" / "store", str(node.get("name") or encoder_name(cfg)), identity,
                 hash=s.get("hash", "stat"), flush_rows=s.get("flush_rows", 4096), flush_seconds=s.get("flush_seconds", 60))


def _method_options(node: DictConfig, kmeans: DictConfig) -> dict:
    """A method node's own options (the run's keys and _target_ aside); consensus's `kmeans` (its members' k-means,
    ${kmeans}) given in part on the command line (consensus.kmeans={nredo:2}) goes over the run's kmeans.*."""
    from audioclust.cluster.methods import RUN_KEYS, over_defaults

    def own(n) -> dict:
        return {k: v for k, v in OmegaConf.to_container(n, resolve=True).items() if k not in (*RUN_KEYS, "_target_")}

    return over_defaults({"kmeans": own(kmeans)}, own(node))


def build_clusterer(cfg: DictConfig):
    """The Clusterer of a cluster config (conf/cluster.yaml): the method is cluster.method's node
    (conf/cluster/method/<name>.yaml, at the key <name>), kmeans.k / kmeans.search (the number of clusters) and
    kmeans.gpu (FAISS) aside; voice groups from `voice`. Every value is checked here, before any data is read."""
    from hydra.utils import get_class

    from audioclust.cluster.methods import KMeans
    from audioclust.cluster.pipeline import VOICE_KMEANS, Clusterer, Stage, is_method
    from audioclust.utils import show_progress

    seed, gpu, v = checks.number("seed", cfg.seed, strict=False, integer=True), cfg.kmeans.gpu, cfg.voice
    checks.number("kmeans.k", cfg.kmeans.k, integer=True, optional=True)
    search = cfg.kmeans.get("search")
    name, fit_on = cfg.cluster.method, cfg.cluster.get("fit_on", "auto")
    for key in cfg.cluster:   # an old name (an interpolation of the method's key) set on the command line
        if key not in ("method", "fit_on") and not OmegaConf.is_interpolation(cfg.cluster, key):
            new = [f"{m}.{key}" for m, n in cfg.items() if is_method(n) and key in n]
            raise ConfigError(f"cluster.{key} is now {' / '.join(new) or 'gone'} (conf/cluster/method/)")
    node = cfg.get(name) if isinstance(name, str) else None
    if not is_method(node):
        raise ConfigError(f"cluster.method={name}: no such clustering method (one of "
                          f"{', '.join(k for k, n in cfg.items() if is_method(n))}; conf/cluster/method/<name>.yaml)")
    options = _method_options(node, cfg.kmeans)
    try:   # built here, not by instantiate(): its ConfigError reaches the screen as one line
        method = get_class(node._target_)(**options, seed=seed, gpu=gpu, verbose=show_progress(cfg.get("progress")))
    except TypeError as e:   # an option the method does not take (+hdbscan.foo=1)
        raise ConfigError(f"cluster.method={name}: {e}") from None
    if not method.takes_k and (cfg.kmeans.k is not None or search is not None):
        raise ConfigError(f"kmeans.k and kmeans.search choose the number of clusters; {name} finds the number of "
                          "clusters itself: drop them")
    if search is not None and (len(search) != 2 or not 2 <= search[0] <= search[1]):
        raise ConfigError(f"kmeans.search must be [min, max] with 2 <= min <= max, got {list(search)}")
    if search is not None and getattr(method, "combines", False):
        raise ConfigError(f"cluster.method={name} needs kmeans.k: its members are clustered with that k (no kmeans.search)")
    content = Stage(cfg.preprocess, dict(cfg.reduce), method, seed)
    reduce = dict(cfg.reduce) if v.get("rounds", 0) else None   # round 0: the raw spectra, not reduced
    voice = Stage("l2", reduce, KMeans(seed=seed, gpu=gpu, **VOICE_KMEANS), seed)
    return Clusterer(content, v.groups, v.get("rounds", 0), v.get("target", "content"), voice, fit_on)
