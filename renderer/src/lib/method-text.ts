/**
 * Method cards in plain words for people who are not machine-learning researchers: what a method does and when to
 * pick it. The engine's own summary (with the research detail) is shown one click away.
 */
export const PLAIN_METHODS: Record<string, { what: string; when: string }> = {
  linear: {
    what: 'Keeps the model as it is and teaches only a new final step that maps its view of an image to your classes.',
    when: 'First try on any dataset, or when you need an answer in minutes.',
  },
  full: {
    what: 'Adjusts everything the model has learned to your images.',
    when: 'Several thousand images or more, and time to wait.',
  },
  spd: {
    what: 'Adjusts everything, but holds back the parts that drift too far from what the model already knew.',
    when: 'Hundreds to a few thousand images: usually the most accurate choice here.',
  },
  l2sp: {
    what: 'Adjusts everything while gently pulling the model back towards what it already knew.',
    when: 'Few images that look unlike everyday photos, when full adjustment forgets too much.',
  },
  bitfit: {
    what: 'Adjusts only a tiny set of offsets inside the model (well under 1 %).',
    when: 'Very little memory, or many small projects to store; needs many epochs.',
  },
  lora: {
    what: 'Learns a small add-on for each layer, folded back into the model on export.',
    when: 'A good balance when memory is limited; nearly as accurate as full adjustment.',
  },
  gps: {
    what: 'Finds the few most useful connections in each layer and adjusts only those.',
    when: 'Small datasets and long training; research method, slower to set up.',
  },
  pace: {
    what: 'Adds small adapters and trains them to give the same answer when the image is slightly disturbed.',
    when: 'Small datasets when you can afford about three times the training time.',
  },
};
