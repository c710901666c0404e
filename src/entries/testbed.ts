/**
 * `d2pruner/testbed`: the synthetic scenes the shipped testbed VLM was trained and is evaluated on, and where
 * that model lives. The scene generator is pure; {@link testbedModelDir} needs Node.
 */
export { generateScene, boxToAnswer, answerToBox, iou, type Case, type Scene, type SceneObject, type Task } from '../testbed/generate.js';
export { testbedModelDir } from '../testbed/model-dir.js';
