/** Reporters: one Report, three renderings. */
import type { Report, Rule } from '../core/finding.ts';
import { renderJson } from './json.ts';
import { renderSarif } from './sarif.ts';
import { renderText } from './text.ts';

export type ReportFormat = 'text' | 'json' | 'sarif';

export interface RenderOptions {
  readonly format: ReportFormat;
  readonly subject: string;
  readonly color: boolean;
  readonly verbose: boolean;
  readonly rules: readonly Rule[];
  readonly root: string;
  readonly version: string;
}

export function renderReport(report: Report, options: RenderOptions): string {
  switch (options.format) {
    case 'json':
      return renderJson(report);
    case 'sarif':
      return renderSarif(report, options);
    case 'text':
      return renderText(report, options);
  }
}

export { renderJson, renderSarif, renderText };
