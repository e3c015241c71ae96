"""The tiebreak operators as Python users call them: torch.ops.load_library + torch.ops.tiebreak.*.

Run by ctest as `python test_torch_ops.py <path to libtiebreak.so>`.
"""
import sys
import unittest

import torch

LIBRARY = sys.argv.pop(1) if len(sys.argv) > 1 else None


class TorchOpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if LIBRARY is None:
            raise unittest.SkipTest("pass the path of libtiebreak.so")
        torch.ops.load_library(LIBRARY)

    def test_max_pool2d_tie_gradients_match_the_beta_jacobian(self):
        for beta, expected in [(0.0, [1, 0, 0, 0]), (1.0, [0.5, 0.5, 0, 0]), (1000.0, [-499, 500, 0, 0])]:
            for formulation in ("pure", "mixture"):
                x = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]], requires_grad=True)
                y = torch.ops.tiebreak.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False, beta, formulation)
                y.sum().backward()
                self.assertEqual(x.grad.flatten().tolist(), expected, (beta, formulation))

    def test_max_pool2d_pure_forward_equals_native(self):
        x = torch.randint(0, 4, (2, 3, 9, 9)).float()
        got = torch.ops.tiebreak.max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], False, 10.0, "pure")
        self.assertTrue(torch.equal(got, torch.nn.functional.max_pool2d(x, 3, 2, 1)))

    def test_max_pool2d_with_ties_counts_tied_windows(self):
        x = torch.tensor([[[[5.0, 1.0], [5.0, 5.0]]]])
        out, ties = torch.ops.tiebreak.max_pool2d_with_ties(x, [2, 2])
        self.assertEqual(ties.item(), 3)
        self.assertEqual(out.item(), 5.0)

    def test_relu_gradient_at_zero_is_alpha(self):
        x = torch.tensor([-1.0, 0.0, -0.0, 2.0], requires_grad=True)
        torch.ops.tiebreak.relu(x, 0.25).sum().backward()
        self.assertEqual(x.grad.tolist(), [0.0, 0.25, 0.25, 1.0])

    def test_norm_pool2d_all_zero_window_gets_grad_at_zero(self):
        x = torch.zeros(1, 1, 2, 2, requires_grad=True)
        torch.ops.tiebreak.norm_pool2d(x, [2, 2], [2, 2], [0, 0], 1.0).sum().backward()
        self.assertEqual(x.grad.flatten().tolist(), [1.0, 1.0, 1.0, 1.0])

    def test_bad_formulation_raises_a_clear_error(self):
        with self.assertRaisesRegex(RuntimeError, "formulation"):
            torch.ops.tiebreak.max_pool2d(torch.ones(1, 1, 2, 2), [2, 2], [2, 2], [0, 0], [1, 1], False, 1.0, "nope")


if __name__ == "__main__":
    unittest.main(verbosity=2)
