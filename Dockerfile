# audioclust on a CUDA GPU cluster: CUDA torch, the GPU FAISS wheel, the console commands.
#   docker build -t audioclust .
#   docker run --gpus all -v /data/clips:/data -v $PWD/runs:/runs -w /runs audioclust \
#       audioclust-train data=folder data.root=/data trainer=gpu
#   docker run --gpus all -v /data/clips:/data -v $PWD/runs:/runs -w /runs audioclust \
#       audioclust-cluster run_dir=logs/train/runs/<time>
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 WANDB_MODE=offline
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv libsndfile1 \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# CUDA 12 torch first, then the package with the GPU FAISS wheel (the `gpu` extra, never together with `cpu`)
RUN pip install "torch>=2.2" --index-url https://download.pytorch.org/whl/cu124
COPY pyproject.toml README.md /src/
COPY audioclust /src/audioclust
COPY conf /src/conf
RUN pip install "/src[gpu,slurm]"

# outputs go under the working directory (mount one) or $AUDIOCLUST_HOME
WORKDIR /runs
CMD ["audioclust-train", "--help"]
