/** torchvision ResNet-18 and MobileNetV2 from torch.onnx.export, and `sculpt prune` on one (see torch-export.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli } from '../helpers.js';
import { torchExportTests } from './torch-export.js';

const { dir, skip } = torchExportTests(['resnet18', 'mobilenet_v2']);

test('sculpt prune on an exported model: CLI with --verify', { skip }, () => {
  const out = join(dir, 'resnet18.pruned.onnx');
  const r = runCli(['prune', join(dir, 'resnet18.bnkept.onnx'), '-o', out, '--flops-target', '0.5', '--round-to', '8', '--verify', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.verify.ok, true);
  assert.equal(j.summary.prunableGroups, 12);
});
