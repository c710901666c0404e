/**
 * `d2pruner/testbed`: the synthetic scenes the shipped testbed VLM was trained and is evaluated on (pure;
 * browser-safe). The model's folder is `testbedModelDir()` in `d2pruner/node`.
 */
export { generateScene, boxToAnswer, answerToBox, iou, IMAGE_SIZE, type Case, type Scene, type SceneObject, type Task } from '../testbed/generate.js';
