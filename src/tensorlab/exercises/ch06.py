"""Exercises of notebook 06, "Tensors are for speed: hardware acceleration, measured".

In notebook order: q1 after section 1 (loops against tensors), q2-q3 in section 2 (FLOPs and the
peak), q4 in section 3 (training, timed), q5-q8 in section 4 (the GPU).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tensorlab.checking import (
    ChoiceExercise,
    Exercise,
    FunctionExercise,
    NotAttempted,
    NumberExercise,
    ValueExercise,
    WrongAnswer,
    compare_equal,
    compare_tensor,
    describe_type,
)
from tensorlab.exercises import name_exercises

# ---- q1: a layer of neurons without a Python loop (section 1) -----------------------------------


def reference_relu_layer(X: torch.Tensor, w: torch.Tensor, b: float) -> torch.Tensor:
    """relu(X @ w + b): (N, D) inputs, (D,) weights, a bias -> (N,) outputs, one per row."""
    return torch.relu(X @ w + b)  # (N,)


def _layer_cases() -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    generator = torch.Generator().manual_seed(61)
    return [
        (
            torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0], [-1.0, 0.5, 2.0], [2.0, 2.0, -3.0], [0.5, -0.5, 0.0]]),
            torch.tensor([0.5, 1.0, -1.0]),
            0.25,
        ),  # (5, 3): not square
        (torch.randn(2, 4, generator=generator), torch.randn(4, generator=generator), -1.5),  # mostly cut by ReLU
        (torch.randn(7, 1, generator=generator), torch.tensor([2.0]), 0.0),  # one input per row
        (torch.randn(3, 3, generator=generator), torch.randn(3, generator=generator), 0.5),  # square, not symmetric
    ]


q1 = FunctionExercise(
    "a layer of neurons without a Python loop",
    reference=reference_relu_layer,
    cases=_layer_cases,
    hints=(
        "Each row of X meets the same weights: the sums of products for all rows at once are one "
        "matrix-vector product.",
        "X @ w is (N,); add the bias (broadcast to every row), then ReLU: torch.relu(X @ w + b).",
    ),
    takeaway=(
        "A loop over rows and a sum over columns become one matrix product: the whole layer is a "
        "single call to compiled code."
    ),
)

# ---- q2: the FLOPs of a matrix product (section 2) ---------------------------------------------


def _reference_matmul_flops(m: int, k: int, n: int) -> int:
    return 2 * m * k * n  # m * n outputs, each k multiply-adds, a multiply-add counted as 2 FLOPs


def _exact_matmul_flops(m: int, k: int, n: int) -> int:
    return m * n * (2 * k - 1)  # k multiplications and k - 1 additions per output


@dataclass
class MatmulFlopsExercise(FunctionExercise):
    """Either convention is right, used consistently: 2mkn (a multiply-add is 2 FLOPs) or mn(2k - 1).

    The answer is judged against the usual convention first; if it fails there, against the exact
    count. The message for a wrong answer is the one against 2mkn, the convention the question names.
    """

    def judge(self, answer: Any) -> None:
        try:
            super().judge(answer)
        except WrongAnswer as usual:
            exact = FunctionExercise(
                self.name, self.title, reference=_exact_matmul_flops, cases=self.cases, compare=self.compare
            )
            try:
                exact.judge(answer)
            except WrongAnswer:
                raise usual from None


q2 = MatmulFlopsExercise(
    "the FLOPs of a matrix product",
    reference=_reference_matmul_flops,
    # (1, 1, 1) and (5, 1, 3) tell m*k*n from 2*m*k*n - m*n; (2, 3, 4) and (128, 64, 32) are uneven.
    cases=lambda: [(2, 3, 4), (128, 64, 32), (1, 1, 1), (5, 1, 3), (1024, 1024, 1024)],
    compare=compare_equal,
    hints=(
        "An (m, k) @ (k, n) product has m * n outputs; each is a sum of k products.",
        "Count a multiplication and an addition for each of the k products: 2 * m * k * n. (Counting "
        "k - 1 additions exactly, m * n * (2 * k - 1), is accepted too.)",
    ),
    takeaway=(
        "Counting the work comes first: an (m, k) @ (k, n) product is about 2mkn FLOPs, whatever " "hardware runs it."
    ),
)

q3 = NumberExercise(
    "achieved GFLOP/s from a measured time",
    expected=2 * 1024**3 / 0.020 / 1e9,
    rtol=1e-3,  # also accepts the exact count 1024**2 * (2 * 1024 - 1), 0.05 % less
    hints=(
        "Rate = operations / seconds. How many operations does a (1024, 1024) @ (1024, 1024) " "product do?",
        "2 * 1024**3 operations in 0.020 s; divide by 1e9 for GFLOP/s (about a hundred).",
    ),
    takeaway=(
        "Achieved FLOP/s = FLOPs / seconds; set against the hardware's peak, it says how well the " "hardware is used."
    ),
)

# ---- q4: what batching saves, from the fixed cost per call (section 3) ---------------------------

# One epoch of 378 images: sample by sample, 378 calls of 150 us + 2 us per image; in batches of 32,
# ceil(378 / 32) = 12 calls (11 of 32 and one of 26) of 150 us + 2 us per image.
_PER_SAMPLE_US = 378 * (150 + 2)
_BATCHED_US = math.ceil(378 / 32) * 150 + 378 * 2

q4 = NumberExercise(
    "what batching saves",
    expected=_PER_SAMPLE_US / _BATCHED_US,  # 57,456 us / 2,556 us, about 22.5
    rtol=1e-3,
    hints=(
        "Time of an epoch = (number of calls) x 150 us + (number of images) x 2 us. Sample by sample "
        "there is one call per image; batched, one call per batch.",
        "378 images in batches of 32 make 12 batches (11 full ones and one of 26): math.ceil(378 / 32). "
        "Speed-up = 378 * (150 + 2) / (12 * 150 + 378 * 2).",
    ),
    takeaway=(
        "Batching pays each call's fixed cost once per batch instead of once per sample; the work per "
        "sample stays, so the speed-up has a ceiling."
    ),
)

# ---- q5-q8: the GPU (section 4) ----------------------------------------------------------------


@dataclass
class NumberedChoiceExercise(ChoiceExercise):
    """Multiple choice by number: 3 and "3" are the same answer."""

    def judge(self, answer: Any) -> None:
        if answer is Ellipsis:
            raise NotAttempted()
        if isinstance(answer, int) and not isinstance(answer, bool):
            answer = str(answer)
        if not isinstance(answer, str):
            raise WrongAnswer(
                f"your answer should be one of the numbers {', '.join(self.choices)}, but it is "
                f"{describe_type(answer)}."
            )
        super().judge(answer)


q5 = NumberedChoiceExercise(
    "the missing synchronize",
    choices=("1", "2", "3"),
    expected="3",
    hints=(
        "CUDA calls return as soon as the work is queued; the GPU finishes later.",
        "The clock must be read after waiting for the GPU both before the start (earlier work) "
        "and before the stop (this work): torch.cuda.synchronize() in both places.",
    ),
    takeaway=(
        "CUDA calls return before the GPU finishes: synchronize before starting the clock and again "
        "before stopping it."
    ),
)

q6 = ValueExercise(
    "bytes moved by a copy",
    expected=64 * 3 * 224 * 224 * 4,
    hints=(
        "Bytes = number of values x bytes per value.",
        "64 * 3 * 224 * 224 values, 4 bytes each in float32 (torch.tensor(0.0).element_size()).",
    ),
    takeaway="A copy moves the tensor's whole memory: values x bytes per value.",
)

q7 = NumberExercise(
    "how long the copy takes",
    expected=64 * 3 * 224 * 224 * 4 / 25e9 * 1e3,
    rtol=1e-3,
    hints=(
        "Time = bytes / bytes per second; 25 GB/s is 25e9 bytes per second.",
        "Your answer to exercise 6 / 25e9 gives seconds; times 1000 gives milliseconds (about 1.5).",
    ),
    takeaway=(
        "Copy time = bytes / bandwidth: at tens of GB/s a batch costs milliseconds, which is why "
        "data should stay on the GPU."
    ),
)


def _linear_cases() -> list[tuple[nn.Module, torch.Tensor, str, str]]:
    """(net, X, device, where X starts) cases for q8, each a fresh copy.

    "meta" is a device every PyTorch has: tensors there have shapes but no values, so it shows where
    the computation ran even on a machine without a GPU. The model always starts on the CPU; the data
    starts on the CPU, or already on the device (then a function that computes on the CPU and moves
    only the result fails, since the CPU model cannot read the data there).
    """
    generator = torch.Generator().manual_seed(6)
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.randn(3, 4, generator=generator))  # (3, 4)
        net.bias.copy_(torch.randn(3, generator=generator))  # (3,)
    X = torch.randn(5, 4, generator=generator)  # (5, 4)
    return [
        (net, X, "cpu", "cpu"),
        (copy.deepcopy(net), X.clone(), "meta", "cpu"),
        (copy.deepcopy(net), X.to("meta"), "meta", "meta"),
    ]


@dataclass
class DeviceFunctionExercise(Exercise):
    """The answer is ``f(net, X, device)``, which must compute ``net(X)`` on ``device``.

    What is judged is what the question asks, not how: the result, and where it was computed. Each
    case runs on a fresh copy of the model and data. On the CPU the values are compared with
    ``net(X)``. On the "meta" device (shapes without values) the result must be on that device with
    net(X)'s shape, both when the data starts on the CPU and when it is already on the device; the
    second case fails a function that computes on the CPU and moves only the result. Moving the model
    in place, or running a copy of it on the device, are both right.
    """

    def judge(self, answer: Any) -> None:
        if answer is Ellipsis:
            raise NotAttempted()
        if not callable(answer):
            raise WrongAnswer(f"your answer should be a function, but it is a {type(answer).__name__}.")
        name = getattr(answer, "__name__", "your function")
        data_on_cpu_worked = False
        for net, X, device, data_at in _linear_cases():
            expected = net(X).detach() if device == "cpu" else None  # (5, 3)
            net, X = copy.deepcopy(net), X.clone()
            shown = f"{name}(net, X, device='{device}')" + (" with X already on 'meta'" if data_at == "meta" else "")
            try:
                got = answer(net, X, torch.device(device))
            except Exception as error:
                text = str(error).strip()
                first = (text.splitlines()[0] if text else "no message").rstrip(".!")
                if isinstance(error, NotImplementedError) and (not text or "your code here" in text.lower()):
                    raise NotAttempted() from None  # the student notebook's placeholder
                if "meta tensor" in text:
                    raise WrongAnswer(
                        f"calling {shown} tried to copy data from the device to the CPU "
                        f"({first}); compute on the device and return the result there."
                    ) from None
                if data_at == "meta" and data_on_cpu_worked and "device" in text:
                    raise WrongAnswer(
                        f"calling {shown} raised {type(error).__name__}: {first}. It worked while "
                        "X was on the CPU, so it seems to compute on the CPU and move only the "
                        "result: move the model to the device and compute there."
                    ) from None
                where = " (are the model and the data on the same device?)" if "device" in text else ""
                raise WrongAnswer(f"calling {shown} raised {type(error).__name__}: {first}{where}.") from None
            if got is None:
                raise WrongAnswer(f"calling {shown} returned None; did you forget the return statement?")
            if not isinstance(got, torch.Tensor):
                raise WrongAnswer(
                    f"calling {shown} should return a tensor, but it returned " f"a {type(got).__name__}."
                )
            if got.device.type != device:
                raise WrongAnswer(f"calling {shown} returned a tensor on '{got.device.type}', not on " f"'{device}'.")
            if expected is not None:
                compare_tensor(got, expected, atol=1e-5, what=f"the result of {shown}")
            elif tuple(got.shape) != (5, 3):
                raise WrongAnswer(f"calling {shown} gave shape {tuple(got.shape)}, but net(X) has " "shape (5, 3).")
            if device == "meta" and data_at == "cpu":
                data_on_cpu_worked = True


q8 = DeviceFunctionExercise(
    "a model and its data on a device",
    hints=(
        "The arithmetic runs where the tensors are: both the model (its weights and biases) and the "
        "data must be on the device: net.to(device) and X.to(device).",
        "net.to(device) moves a module in place and returns it; X.to(device) returns a new tensor. "
        "Then return net(X).",
    ),
    takeaway=(
        "The arithmetic runs where the tensors are: the model's parameters and the data must both " "be on the device."
    ),
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own.
from tensorlab.checking import Discussion, Discussions  # noqa: E402

discuss = Discussions(
    Discussion(
        "Would float64 be faster or slower than float32 for a large matrix product on this CPU, and by how much?",
        "Slower, by about a factor of two. A float64 number takes 8 bytes instead of 4, so a vector register "
        "holds half as many of them (a 512-bit AVX-512 register: 8 float64 numbers or 16 float32; a 256-bit "
        "AVX2 register: 4 or 8), and each fused multiply-add instruction does half as many operations. The "
        "estimated peak halves too: hw.estimate_cpu_peak(torch.float64) counts half of float32's FLOPs per "
        "cycle. Every number also moves twice the bytes, which is why even a dot product, which waits for "
        "memory rather than for arithmetic, slows down about as much.\n\n"
        "Measured on the course's 2-core development machine (an Intel Xeon with AVX-512, on 2 December 2026, "
        "one thread, medians of three interleaved rounds, while other work was running on it): a 512 x 512 "
        "product took 2.2 times as long in float64 as in float32, a 1024 x 1024 one 2.4 times, and the dot "
        "product of a million numbers 2.3 times. Your numbers will differ, and a busy machine blurs them, but "
        "the factor of about two stays.\n\n"
        "This is one reason networks are trained in float32 or narrower types (bfloat16, float16): they do "
        "not need float64's 16 significant digits, and every halving of the width doubles what the hardware "
        "can do. GPUs show the same pattern: NVIDIA's H100 data sheet gives 67 TFLOP/s for FP32 and 34 for "
        "FP64 (SXM, without the tensor cores). The course uses float64 only where exactness is the point, to "
        "compare a result derived by hand with PyTorch's.",
    ),
    Discussion(
        "Would one batch of all 378 images be faster still, and would the network learn as much in an epoch?",
        "Faster per epoch, yes, but with a ceiling, and it learns less per epoch.\n\n"
        "Faster: with all 378 images in one batch, an epoch is a single call of the network, so the fixed "
        "cost per call is paid once instead of 12 times. Measured on the course's 2-core development machine "
        "(an Intel Xeon, 2 December 2026, load average below 1), in CPU time of one thread as in section 3's "
        "table, with Adam as in section 3, an epoch took about 410 ms with one image per step, 78 ms with "
        "batches of 8, 20 ms with batches of 32 and 2.1 ms with one batch of 378. The gains shrink as the "
        "batch grows: once the fixed cost is spread thin, what remains is the arithmetic per image, which "
        "batching does not remove (exercise 4's model says the same).\n\n"
        "Less per epoch: one batch per epoch means one step of the optimizer per epoch. With section 3's "
        "settings (Adam, learning rate 0.03, the same shuffled order), the training accuracy after one epoch "
        "was 0.923 with batches of 32 but 0.632 with one batch of 378; the full batch needed nine epochs to "
        "reach 0.923, with one Adam optimizer kept over the nine (section 3's epoch_batched makes a new one "
        "at each call, which starts Adam's averages afresh). Per second of training the two came out about "
        "even here (nine full-batch epochs, about 19 ms, against one epoch of batches of 32, about 20 ms). So"
        " the batch size trades the number of steps against the cost of each; in practice people take the "
        "largest batch that still learns well per epoch and fits in memory (every layer's output is kept for "
        "backward, one per image), and often adjust the learning rate with it. On a GPU, where the fixed cost"
        " per call is typically larger (not measured here), the balance tips further towards larger batches.",
    ),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
