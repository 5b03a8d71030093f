# audioclust on CUDA GPUs: Python 3.11, a CUDA 12 build of torch, the GPU FAISS wheel (the `gpu` extra), the commands.
#   docker build -t audioclust .                          # --build-arg ENCODERS=1: also the pretrained encoders
#   docker run --gpus all --shm-size=16g -v /data/clips:/data -v $PWD/runs:/runs audioclust \
#       audioclust-train data=folder data.root=/data trainer=gpu
#   docker run --gpus all --ipc=host -v /data/clips:/data -v $PWD/runs:/runs audioclust \
#       audioclust-train data=folder data.root=/data trainer=ddp trainer.devices=4
#   docker run --gpus all --shm-size=16g -v /data/clips:/data -v $PWD/runs:/runs audioclust \
#       audioclust-cluster run_dir=logs/train/runs/<time>
# --shm-size=16g (or --ipc=host: the host's /dev/shm) is needed: Docker's default /dev/shm is 64 MB, and the
# DataLoader workers pass batches through it, as NCCL does between the GPUs of a DDP run; both fail with it.
#
# Base: plain Python 3.11 (Ubuntu 22.04's CUDA images have 3.10, 24.04's 3.12). The torch and FAISS wheels bring
# their own CUDA libraries (runtime, cuBLAS, cuDNN, NCCL) as pip packages, and the NVIDIA Container Toolkit
# (`docker run --gpus`) mounts the host's driver, so a CUDA base image would only add a second copy of CUDA.
FROM python:3.11-slim

# torch: the release series the project is tested on (Makefile's TORCH), a CUDA 12 build like the FAISS GPU wheel
# (PyPI's torch 2.13 is a CUDA 13 build). CUDA 12.8 runs on drivers >= 525 and has Hopper and Blackwell kernels.
ARG TORCH=2.13.*
ARG TORCH_CUDA=cu128
# ENCODERS=1: the pretrained encoders' extras (docs/encoders.md), as `make install-encoders`
ARG ENCODERS=0

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 WANDB_MODE=offline \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first (its own layer: the largest, and it changes least), then the package with the `gpu` extra (the GPU
# FAISS wheel pyproject.toml names; never together with `cpu`)
RUN pip install "torch==${TORCH}" --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"
COPY pyproject.toml README.md /src/
COPY audioclust /src/audioclust
COPY conf /src/conf
RUN pip install "/src[gpu,slurm]"
# aisfx and resemblyzer pin old or broken dependencies: their extras bring the real ones, then --no-deps (Makefile);
# speech-gpu: the speech model's onnxruntime with its CUDA provider (instead of [speech]'s CPU build; openwakeword,
# which requires the CPU build, goes in with --no-deps too)
RUN if [ "$ENCODERS" = 1 ]; then pip install "/src[aisfx,birdnet,speech-gpu,speaker]" \
    && pip install --no-deps aisfx==0.1.2 resemblyzer==0.1.4 openwakeword==0.4.0; fi

# outputs go under the working directory (mount one) or $AUDIOCLUST_HOME
WORKDIR /runs
CMD ["audioclust-train", "--help"]
