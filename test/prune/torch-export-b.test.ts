/** torchvision SqueezeNet, DenseNet-121 and ShuffleNetV2 from torch.onnx.export (see torch-export.ts). */
import { torchExportTests } from './torch-export.js';

torchExportTests(['squeezenet1_1', 'densenet121', 'shufflenet_v2_x0_5']);
