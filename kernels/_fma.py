"""Fused multiply-add for compiled kernels.

TA-Lib 0.8 advances its EMA as `fma(x - prev, k, prev)`, with one rounding. Reproducing that
rounding makes sqfast's EMA family equal TA-Lib bit for bit, which matters where a strategy
compares two nearly equal averages. This is exact arithmetic, not `fastmath`.
"""

from numba import types
from numba.extending import intrinsic


@intrinsic
def fma(typingctx, a, b, c):
    """`a * b + c` rounded once (LLVM's `llvm.fma`: one instruction where the CPU has it).

    Arguments must be float64; callable only from compiled code.
    """
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        double = args[0].type
        function_type = type(builder.function.function_type)  # LLVM types come from the builder,
        fn = builder.module.declare_intrinsic(  # so kernels/ never imports llvmlite itself
            "llvm.fma", [double], function_type(double, [double] * 3))
        return builder.call(fn, args)

    return sig, codegen
