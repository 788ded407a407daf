import { BadRequestError, InvalidParameterError } from '../errors.js';
import type { Expression, ExprOperator, ExprVariable } from './types.js';
import { clip } from './validators.js';

/** Every variable the grammar knows; which ones a parameter may use is decided by the parameter. */
export const EXPRESSION_VARIABLES: readonly ExprVariable[] = [
  'iw',
  'ih',
  'iar',
  'idu',
  'bw',
  'bh',
  'bar',
  'bdu',
  'cw',
  'ch',
];
/** Operators, written between operands with `_` (`iw_div_2`). */
export const EXPRESSION_OPERATORS: readonly ExprOperator[] = ['add', 'sub', 'mul', 'div', 'mod', 'pow'];

/** A longer chain is almost certainly abuse, and keeps evaluation and cache keys small. */
const MAX_OPERATORS = 10;
/** Bounded so that `String(n)` never switches to exponent notation and the round trip stays exact. */
const NUMBER_LITERAL = /^\d{1,9}(\.\d{1,6})?$/;

function isVariable(token: string): token is ExprVariable {
  return (EXPRESSION_VARIABLES as readonly string[]).includes(token);
}

function isOperator(token: string): token is ExprOperator {
  return (EXPRESSION_OPERATORS as readonly string[]).includes(token);
}

/** Whether a raw value should be read as an expression rather than a plain number. */
export function looksLikeExpression(raw: string): boolean {
  return raw.includes('_') || isVariable(raw);
}

/**
 * Parses `iw_div_2_add_10` for parameter `param`, allowing only `allowed` variables.
 * Throws a 400 naming `param` for any malformed token or a variable the parameter cannot use.
 */
export function parseExpression(param: string, raw: string, allowed: readonly ExprVariable[]): Expression {
  const expected = `an expression such as ${allowed[0] ?? 'iw'}_div_2 using ${allowed.join(', ')} and ${EXPRESSION_OPERATORS.join(', ')}`;
  const tokens = raw.split('_');
  if (tokens.length % 2 === 0 || tokens.length > 2 * MAX_OPERATORS + 1) {
    throw new InvalidParameterError(param, expected, clip(raw));
  }
  const operands: Array<number | ExprVariable> = [];
  const operators: ExprOperator[] = [];
  tokens.forEach((token, position) => {
    if (position % 2 === 1) {
      if (!isOperator(token)) throw new InvalidParameterError(param, expected, clip(raw));
      operators.push(token);
      return;
    }
    if (isVariable(token)) {
      if (!allowed.includes(token)) {
        throw new BadRequestError(
          `Variable '${token}' cannot be used in parameter '${param}' (allowed: ${allowed.join(', ')})`,
          param,
          'invalid_parameter',
        );
      }
      operands.push(token);
      return;
    }
    if (!NUMBER_LITERAL.test(token)) throw new InvalidParameterError(param, expected, clip(raw));
    operands.push(Number(token));
  });
  return { kind: 'expr', operands, operators };
}

/** The canonical text of an expression: operands and operators joined by `_`, numbers normalised. */
export function serializeExpression(expr: Expression): string {
  const parts: string[] = [];
  expr.operands.forEach((operand, index) => {
    if (index > 0) parts.push(expr.operators[index - 1] ?? 'add');
    parts.push(String(operand));
  });
  return parts.join('_');
}

function apply(operator: ExprOperator, left: number, right: number): number {
  switch (operator) {
    case 'add':
      return left + right;
    case 'sub':
      return left - right;
    case 'mul':
      return left * right;
    case 'div':
      if (right === 0) throw new BadRequestError('Division by zero in an arithmetic expression');
      return left / right;
    case 'mod':
      if (right === 0) throw new BadRequestError('Modulo by zero in an arithmetic expression');
      return left % right;
    case 'pow':
      return left ** right;
  }
}

/**
 * Evaluates an expression strictly left to right (ImageKit has no operator precedence), with
 * `vars` giving the source's `iw`, `ih`, `iar`, `idu`.
 *
 * @example evaluateExpression(parsed('ih_mul_0.5_add_10'), { ih: 720 }) // 370
 * @throws BadRequestError on division by zero, a variable without a value, or a non-finite result.
 */
export function evaluateExpression(expr: Expression, vars: Partial<Record<ExprVariable, number>>): number {
  const operandValue = (operand: number | ExprVariable): number => {
    if (typeof operand === 'number') return operand;
    const value = vars[operand];
    if (value === undefined || !Number.isFinite(value)) {
      throw new BadRequestError(`Variable '${operand}' has no value for this source`);
    }
    return value;
  };
  const first = expr.operands[0];
  if (first === undefined) throw new BadRequestError('Empty arithmetic expression');
  let result = operandValue(first);
  expr.operators.forEach((operator, index) => {
    const operand = expr.operands[index + 1];
    if (operand === undefined) throw new BadRequestError('Arithmetic expression ends with an operator');
    result = apply(operator, result, operandValue(operand));
  });
  if (!Number.isFinite(result)) {
    throw new BadRequestError(`Arithmetic expression '${serializeExpression(expr)}' has no finite value`);
  }
  return result;
}
