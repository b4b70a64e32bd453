import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorText } from '../src/error-text.js';

test('the text of a caught value: an Error by its message, anything else as a string', () => {
  assert.equal(errorText(new TypeError('bad input')), 'bad input');
  assert.equal(errorText('refused'), 'refused');
  assert.equal(errorText(undefined), 'undefined');
  assert.equal(errorText({ code: 7 }), '[object Object]');
});
