/**
 * The fast merge (merge.ts) against transformers.js's own merge, bit for bit, on every fixture family; and
 * the cases it leaves to the host (count mismatch, an override on the instance, no token id).
 */
import { Tensor } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { familyOf } from '../../../src/adapters/transformers/families.js';
import { copyImageRows, mergeImageFeatures } from '../../../src/adapters/transformers/merge.js';
import { FIXTURE_FAMILIES } from '../../fixtures/families.js';
import { loadFixture, makeTestImage, prepareInputs } from '../../fixtures/helpers.js';

describe('copyImageRows', () => {
  it('writes feature rows, in order, at the image-token positions of every batch row', () => {
    const ids = BigInt64Array.from([5n, 9n, 9n, 5n, 9n, 9n, 9n, 5n], (v) => v);
    const embeds = new Float32Array(8 * 2).fill(-1);
    const features = Float32Array.from({ length: 5 * 2 }, (_, i) => i);
    expect(copyImageRows(ids, 9n, embeds, features, 2)).toBe(true);
    expect(Array.from(embeds)).toEqual([-1, -1, 0, 1, 2, 3, -1, -1, 4, 5, 6, 7, 8, 9, -1, -1]);
  });

  it('writes nothing and returns false when the counts differ', () => {
    const embeds = new Float32Array(6).fill(-1);
    expect(copyImageRows(BigInt64Array.from([9n, 9n, 1n]), 9n, embeds, new Float32Array(6), 2)).toBe(false);
    expect(Array.from(embeds)).toEqual([-1, -1, -1, -1, -1, -1]);
  });
});

describe('mergeImageFeatures equals the host merge', () => {
  for (const family of FIXTURE_FAMILIES) {
    it(`on the ${family} fixture`, async () => {
      const fixture = await loadFixture(family);
      const { model } = fixture;
      const inputs = await prepareInputs(fixture, await makeTestImage(64, 48, 1), 'Where is the disc?');
      const features = await model.encode_image(inputs);
      const args = async () => ({
        image_features: features,
        inputs_embeds: await model.encode_text({ input_ids: inputs.input_ids }),
        input_ids: inputs.input_ids,
        attention_mask: inputs.attention_mask,
      });
      const host = model._merge_input_ids_with_image_features(await args()).inputs_embeds;
      const hostCalls: number[] = [];
      const original = model._merge_input_ids_with_image_features.bind(model);
      // The fast path never calls the class's merge.
      let owner = Object.getPrototypeOf(model);
      while (!Object.hasOwn(owner, '_merge_input_ids_with_image_features')) owner = Object.getPrototypeOf(owner);
      const classMerge = owner._merge_input_ids_with_image_features;
      let classCalls = 0;
      owner._merge_input_ids_with_image_features = function (this: unknown, kwargs: unknown) {
        classCalls++;
        return classMerge.call(this, kwargs);
      };
      const fastArgs = await args();
      let fast;
      try {
        fast = mergeImageFeatures(model, familyOf(model), fastArgs);
      } finally {
        owner._merge_input_ids_with_image_features = classMerge;
      }
      expect(classCalls).toBe(0);
      expect(fast.dims).toEqual(host.dims);
      expect(Buffer.from((fast.data as Float32Array).buffer).equals(Buffer.from((host.data as Float32Array).buffer))).toBe(true);
      // An override on the instance is the user's merge: it runs.
      model._merge_input_ids_with_image_features = (kwargs: any) => (hostCalls.push(1), original(kwargs));
      try {
        const overridden = mergeImageFeatures(model, familyOf(model), await args());
        expect(hostCalls).toEqual([1]);
        expect(Array.from(overridden.data as Float32Array)).toEqual(Array.from(host.data as Float32Array));
      } finally {
        delete model._merge_input_ids_with_image_features;
      }
      // Fewer feature rows than image tokens: the host's merge runs and raises its own error.
      const [rows, width] = [features.dims.slice(0, -1).reduce((a: number, b: number) => a * b, 1), features.dims.at(-1)];
      const short = new Tensor(features.type, (features.data as Float32Array).slice(0, (rows - 1) * width), [rows - 1, width]);
      await expect(async () => mergeImageFeatures(model, familyOf(model), { ...(await args()), image_features: short })).rejects.toThrow(/tokens and features do not match/);
    });
  }
});
