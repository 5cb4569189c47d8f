"""Which dynamic INT8 quantisation keeps the accuracy? An ablation over the four models of bench_deploy.

Run after `bench_deploy.py` (it reads the ONNX fp32 files that run exported, from `results/deploy.json`). For each
model and quantisation variant: accuracy on the validation split (where a choice may be made) and on the test split
(reported), as the change in points from the fp32 ONNX model. Writes `results/int8.json`; takes about a minute.
"""
import json, logging, tempfile
from pathlib import Path
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from subnet_kit import load_task
from subnet_kit.onnx_runtime import onnx_evaluate
from transformers import AutoTokenizer
logging.getLogger().setLevel(logging.ERROR)
HERE = Path(__file__).resolve().parent
d = json.load(open(HERE / "results" / "deploy.json"))
tmp = Path(tempfile.mkdtemp(prefix="int8-ablation-"))
task = load_task("movie-snippets")
tok = AutoTokenizer.from_pretrained(d["models"][0]["paths"]["torch"])
def variants(src):
    m = onnx.load(src)
    gemms = [n.name for n in m.graph.node if n.op_type == "Gemm"]
    return {
        "per-channel (default)": dict(per_channel=True, op_types_to_quantize=["MatMul", "Gemm"]),
        "per-tensor": dict(per_channel=False, op_types_to_quantize=["MatMul", "Gemm"]),
        "per-channel, reduce_range": dict(per_channel=True, reduce_range=True, op_types_to_quantize=["MatMul", "Gemm"]),
        "per-channel, MatMul only (head fp32)": dict(per_channel=True, op_types_to_quantize=["MatMul"]),
    }
out = {}
for mdl in d["models"]:
    src = mdl["paths"]["onnx-fp32"]; name = mdl["name"]
    res = {}
    for split in ("validation", "test"):
        res.setdefault("fp32", {})[split] = onnx_evaluate(src, task, tok, split)["accuracy"]
    for vname, kw in variants(src).items():
        dst = f"{tmp}/{name.replace(' ','_').replace('%','')}-{abs(hash(vname))}.onnx"
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, **kw)
        for split in ("validation", "test"):
            res.setdefault(vname, {})[split] = onnx_evaluate(dst, task, tok, split)["accuracy"]
    out[name] = res
    for v, r in res.items():
        print(f"{name:20s} {v:38s} val {r['validation']:.4f} ({100*(r['validation']-res['fp32']['validation']):+.2f})  test {r['test']:.4f} ({100*(r['test']-res['fp32']['test']):+.2f})", flush=True)
json.dump({"benchmark": "int8_ablation", "metric": "accuracy", "models": out}, open(HERE / "results" / "int8.json", "w"), indent=1)
print("wrote", HERE / "results" / "int8.json")
