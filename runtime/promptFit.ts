/**
 * Prompts longer than the model's context. A dataset with a few of them used to stop a long run
 * at the first one, hours in; now every prompt is tokenized first and the run either refuses
 * before any work, naming how many records are affected, or applies the user's choice to all of
 * them: leave them out (counted), or keep their last tokens.
 */
import { cooperative } from './cooperate';

import { LONG_PROMPT_POLICIES, type LongPromptPolicy } from './protocol/jobs';

export { LONG_PROMPT_POLICIES, type LongPromptPolicy };

export function isLongPromptPolicy(v: unknown): v is LongPromptPolicy {
  return (LONG_PROMPT_POLICIES as readonly unknown[]).includes(v);
}

export interface LongPrompt {
  index: number;
  id: string;
  /** Its length before truncation. */
  tokens: number;
}

export interface FittedPrompts {
  /** Indices of the records kept, in input order. */
  kept: number[];
  /** Token ids of each kept record (truncated where the policy says so), aligned with `kept`. */
  tokens: Int32Array[];
  skipped: LongPrompt[];
  truncated: LongPrompt[];
}

/** Prompts longer than the context under the `error` policy. */
export class LongPromptError extends Error {
  constructor(
    readonly long: LongPrompt[],
    readonly total: number,
    readonly maxTokens: number,
  ) {
    const shown = long.slice(0, 5).map((l) => `record ${l.index} (id ${l.id}, ${l.tokens} tokens)`).join(', ');
    super(
      `${long.length} of ${total} records have prompts longer than the model's context of ${maxTokens} tokens: ${shown}${long.length > 5 ? ', …' : ''}. ` +
        'Nothing was computed. Choose what to do with them: --on_long_prompt skip (leave them out; the output lists them) or ' +
        `--on_long_prompt truncate-left (keep their last ${maxTokens} tokens), or use a model with a longer context.`,
    );
    this.name = 'LongPromptError';
  }
}

/**
 * Tokenizes every record (`tokensOf(i)`) and applies the policy to those longer than
 * `maxTokens`. Yields to the event loop between records, so a huge dataset can be cancelled
 * while it is being tokenized.
 */
export async function fitPrompts(
  ids: readonly string[],
  tokensOf: (index: number) => number[],
  maxTokens: number,
  policy: LongPromptPolicy = 'error',
  signal?: AbortSignal,
): Promise<FittedPrompts> {
  if (!isLongPromptPolicy(policy)) throw new TypeError(`on_long_prompt must be one of ${LONG_PROMPT_POLICIES.join(', ')}, got ${String(policy)}`);
  const tick = cooperative(signal);
  const out: FittedPrompts = { kept: [], tokens: [], skipped: [], truncated: [] };
  const long: LongPrompt[] = [];
  for (let i = 0; i < ids.length; i++) {
    await tick();
    const t = tokensOf(i);
    if (t.length <= maxTokens) {
      out.kept.push(i);
      out.tokens.push(Int32Array.from(t));
      continue;
    }
    const l = { index: i, id: ids[i], tokens: t.length };
    long.push(l);
    if (policy === 'skip') {
      out.skipped.push(l);
    } else if (policy === 'truncate-left') {
      out.truncated.push(l);
      out.kept.push(i);
      out.tokens.push(Int32Array.from(t.slice(t.length - maxTokens)));
    }
  }
  if (policy === 'error' && long.length) throw new LongPromptError(long, ids.length, maxTokens);
  return out;
}
