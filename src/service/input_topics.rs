//! The topics the processing loop reads: each input topic's name and counters, by
//! index in `kafka.inputs` (the order the event-time merge breaks ties in).

use crate::config::service::InputTopicConfig;
use crate::telemetry::EventCounters;

/// What the processing loop knows of one input topic.
pub struct InputTopic {
    /// The topic's name.
    pub name: String,
    /// Its events' counters, labelled by source.
    pub counters: EventCounters,
}

/// The input topics, and any other topic a message came from.
pub struct InputTopics {
    topics: Vec<InputTopic>,
    /// The topic of the latest message looked up: consecutive messages mostly share one.
    latest: usize,
}

impl InputTopics {
    /// The topics of `kafka.inputs`, in order.
    pub fn new(inputs: &[InputTopicConfig]) -> InputTopics {
        let topics = inputs
            .iter()
            .map(|input| InputTopic {
                name: input.topic.clone(),
                counters: EventCounters::new(&input.source),
            })
            .collect();
        InputTopics { topics, latest: 0 }
    }

    /// The index of `topic`. One that is not an input topic is added (JSON, labelled by its
    /// name, merged after the input topics), and `added` is called.
    pub fn index_of(&mut self, topic: &str, added: impl FnOnce()) -> usize {
        if self
            .topics
            .get(self.latest)
            .is_some_and(|latest| latest.name == topic)
        {
            return self.latest;
        }
        self.latest = match self.topics.iter().position(|known| known.name == topic) {
            Some(index) => index,
            None => {
                added();
                self.topics.push(InputTopic {
                    name: topic.to_string(),
                    counters: EventCounters::new(topic),
                });
                self.topics.len() - 1
            }
        };
        self.latest
    }

    /// The topic at `index`, if known.
    pub fn get(&self, index: usize) -> Option<&InputTopic> {
        self.topics.get(index)
    }
}

impl std::ops::Index<usize> for InputTopics {
    type Output = InputTopic;

    fn index(&self, index: usize) -> &InputTopic {
        &self.topics[index]
    }
}

impl std::ops::IndexMut<usize> for InputTopics {
    fn index_mut(&mut self, index: usize) -> &mut InputTopic {
        &mut self.topics[index]
    }
}
