import { describe, expect, test } from 'vitest';
import { BadRequestError } from '../errors.js';
import { evaluateExpression, parseExpression, serializeExpression } from './expression.js';
import type { Expression } from './types.js';

const dims = ['iw', 'ih', 'iar'] as const;

function expr(text: string): Expression {
  return parseExpression('w', text, ['iw', 'ih', 'iar', 'idu']);
}

describe('parseExpression', () => {
  test('reads operands and operators alternately', () => {
    expect(expr('ih_mul_0.5_add_10')).toEqual({
      kind: 'expr',
      operands: ['ih', 0.5, 10],
      operators: ['mul', 'add'],
    });
  });

  test('numbers may be plain constants', () => {
    expect(expr('100_pow_2')).toEqual({ kind: 'expr', operands: [100, 2], operators: ['pow'] });
  });

  test.each([
    'iw_',
    '_iw',
    'iw_div',
    'iw_div_',
    'iw_by_2',
    'iw_div_x',
    'iw_div_-2',
    'iw_div_1e3',
    'IW_div_2',
    'iw_div_2_',
  ])('%s is malformed', (text) => {
    expect(() => parseExpression('h', text, dims)).toThrow(
      new RegExp(`^Expected an expression such as iw_div_2 .* for parameter 'h' but received '${text}'$`),
    );
  });

  test('more than 10 operators are refused', () => {
    const ok = `iw${'_add_1'.repeat(10)}`;
    expect(parseExpression('w', ok, dims).operators).toHaveLength(10);
    expect(() => parseExpression('w', `${ok}_add_1`, dims)).toThrow(BadRequestError);
  });

  test('a variable the parameter may not use is a 400 naming both', () => {
    expect(() => parseExpression('du', 'ih_div_2', ['idu'])).toThrow(
      "Variable 'ih' cannot be used in parameter 'du' (allowed: idu)",
    );
  });

  test('serialization is the inverse of parsing', () => {
    expect(serializeExpression(expr('iw_div_2_add_10'))).toBe('iw_div_2_add_10');
    expect(serializeExpression(expr('iar_mul_007.50'))).toBe('iar_mul_7.5');
  });
});

describe('evaluateExpression', () => {
  test('evaluates left to right without precedence, as ImageKit does', () => {
    // With precedence this would be 1 + 2 * 3 = 7.
    expect(evaluateExpression(expr('1_add_2_mul_3'), {})).toBe(9);
    expect(evaluateExpression(expr('ih_mul_0.5_add_10'), { ih: 720 })).toBe(370);
    expect(evaluateExpression(expr('iw_div_2'), { iw: 1921 })).toBe(960.5);
  });

  test('every operator', () => {
    expect(evaluateExpression(expr('7_add_2'), {})).toBe(9);
    expect(evaluateExpression(expr('7_sub_2'), {})).toBe(5);
    expect(evaluateExpression(expr('7_mul_2'), {})).toBe(14);
    expect(evaluateExpression(expr('7_div_2'), {})).toBe(3.5);
    expect(evaluateExpression(expr('7_mod_2'), {})).toBe(1);
    expect(evaluateExpression(expr('7_pow_2'), {})).toBe(49);
  });

  test('variables take their values from the source', () => {
    const vars = { iw: 1920, ih: 1080, iar: 16 / 9, idu: 60 };
    expect(evaluateExpression(expr('idu_mul_0.5'), vars)).toBe(30);
    expect(evaluateExpression(expr('ih_mul_iar'), vars)).toBeCloseTo(1920, 9);
    expect(evaluateExpression(expr('iw'), vars)).toBe(1920);
  });

  test('division or modulo by zero is a 400', () => {
    expect(() => evaluateExpression(expr('iw_div_0'), { iw: 10 })).toThrow('Division by zero');
    expect(() => evaluateExpression(expr('iw_mod_0'), { iw: 10 })).toThrow('Modulo by zero');
    expect(() => evaluateExpression(expr('iw_div_ih'), { iw: 10, ih: 0 })).toThrow(BadRequestError);
  });

  test('a variable without a value is a 400', () => {
    expect(() => evaluateExpression(expr('idu_div_2'), { iw: 10 })).toThrow("Variable 'idu' has no value");
  });

  test('a result that is not finite is a 400', () => {
    expect(() => evaluateExpression(expr('999999999_pow_999999999'), {})).toThrow(/no finite value/);
  });
});
