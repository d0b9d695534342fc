/**
 * The app's rule of thumb for a recommended method, used until the engine provides its own recommendation.
 * It reasons only from facts on screen (training-set size, available methods) and says so.
 */
export function recommendMethod(available: string[], trainCount: number | null): { name: string; why: string } | null {
  if (available.includes('linear')) {
    return {
      name: 'linear',
      why:
        (trainCount !== null ? `With ${trainCount} training images, a` : 'A') +
        ' linear probe gives a reliable baseline in minutes on any computer. Train other methods afterwards and compare them on the same split.',
    };
  }
  return available[0] ? { name: available[0], why: 'The only method available in this build.' } : null;
}
