/**
 * Hysteresis for checks, so a value hovering at a threshold makes one alert, not one per sample.
 * Pure: feed results in, get a transition out (or undefined when nothing changed).
 */

export type Transition = 'down' | 'up';

/** Pass/fail results: down after `failAfter` failures in a row, up after `recoverAfter` passes. */
export function createStreak(failAfter: number, recoverAfter: number) {
  let down = false;
  let streak = 0;
  return {
    update(ok: boolean): Transition | undefined {
      if (ok === !down) {
        streak = 0;
        return undefined;
      }
      streak++;
      if (!down && streak >= failAfter) {
        down = true;
        streak = 0;
        return 'down';
      }
      if (down && streak >= recoverAfter) {
        down = false;
        streak = 0;
        return 'up';
      }
      return undefined;
    },
    get down() {
      return down;
    },
  };
}

/** A usage value (percent): down when it reaches `alertAbove`, up when it falls below `recoverBelow`. */
export function createThreshold(alertAbove: number, recoverBelow: number) {
  let down = false;
  return {
    update(value: number): Transition | undefined {
      if (!down && value >= alertAbove) {
        down = true;
        return 'down';
      }
      if (down && value < recoverBelow) {
        down = false;
        return 'up';
      }
      return undefined;
    },
    get down() {
      return down;
    },
  };
}
